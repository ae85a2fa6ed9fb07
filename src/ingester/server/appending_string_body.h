// Internal to the server module: a Boost.Beast body read into a std::string, like
// beast::http::string_body, but appended buffer by buffer. string_body's reader grows
// the string with resize() before copying, so every body byte was first zero-filled and
// then overwritten: ~2 % of the server's CPU under 8 connections of 1.7 MB bodies
// (docs/benchmarks.md, "Third round"). Appending writes each byte once.
#pragma once

#include <cstdint>
#include <string>

#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>

namespace ingester::http_internal {

struct AppendingStringBody {
  using value_type = std::string;

  // Only requests are read with it: no writer (responses use their own bodies).
  class reader {
   public:
    template <bool kIsRequest, class Fields>
    reader(boost::beast::http::header<kIsRequest, Fields>& /*header*/, value_type& body)
        : body_(body) {}

    // A declared Content-Length is reserved at once (the parser has already checked it
    // against the body limit), so the body is allocated once.
    void init(const boost::optional<std::uint64_t>& length,
              boost::beast::error_code& ec) {
      ec = {};
      if (!length) return;
      if (*length > body_.max_size()) {
        ec = boost::beast::http::error::buffer_overflow;
        return;
      }
      body_.reserve(static_cast<size_t>(*length));
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
      ec = {};
      std::size_t added = 0;
      for (const auto buffer : boost::beast::buffers_range_ref(buffers)) {
        if (buffer.size() > body_.max_size() - body_.size()) {
          ec = boost::beast::http::error::buffer_overflow;
          return added;
        }
        body_.append(static_cast<const char*>(buffer.data()), buffer.size());
        added += buffer.size();
      }
      return added;
    }

    void finish(boost::beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

}  // namespace ingester::http_internal
