// Internal to the server module: reads HTTP/1.1 requests one at a time from the bytes
// of a connection (Boost.Beast's parser plus the checks it does not make; http_front.h
// lists every refusal). No I/O: the connection feeds it, and so does the fuzz target.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "ingester/server/appending_string_body.h"
#include "ingester/server/content_coding.h"
#include "ingester/server/http_front.h"
#include "ingester/server/http_message.h"

namespace ingester::http_internal {

class HttpRequestReader {
 public:
  enum class Progress {
    kNeedMore,        // the buffer is consumed; feed more bytes
    kExpectContinue,  // the header passed; the client waits for 100 Continue
    kComplete,        // TakeRequest()
    kRefused,         // refusal(); the connection must be closed after answering it
  };
  struct Refusal {
    int status = 0;
    std::string message;
  };

  // `options` must outlive the reader.
  explicit HttpRequestReader(const HttpFrontOptions& options) : options_(options) {}

  // Starts a new request.
  void Reset();
  // Drops the parser and what it holds (until the next Reset).
  void Clear() { parser_.reset(); }

  // Parses what `buffer` holds, consuming what it used: bytes of a next (pipelined)
  // request stay in the buffer once this one is complete.
  Progress Parse(boost::beast::flat_buffer* buffer);

  // True once the header is read and has passed its checks.
  bool header_done() const { return header_checked_; }
  const Refusal& refusal() const { return refusal_; }

  // After kComplete: the request, its body as sent (still in `coding()`), and what the
  // response needs. Leaves the reader empty until Reset.
  HttpRequest TakeRequest();
  ContentCoding coding() const { return coding_; }
  bool keep_alive() const { return keep_alive_; }
  unsigned version() const { return version_; }

 private:
  using Parser = boost::beast::http::request_parser<AppendingStringBody>;

  Progress Refuse(int status, std::string message);
  bool RefuseHeader(int status, std::string message) {
    Refuse(status, std::move(message));
    return false;
  }
  Progress OnParseError(const boost::system::error_code& ec,
                        const boost::beast::flat_buffer& buffer);
  // Validates what the parser does not; false after Refuse.
  bool CheckHeader(size_t buffered);

  const HttpFrontOptions& options_;
  std::optional<Parser> parser_;
  bool header_checked_ = false;
  bool expect_continue_ = false;
  Refusal refusal_;
  ContentCoding coding_ = ContentCoding::kIdentity;
  std::string path_;
  std::vector<std::pair<std::string, std::string>> params_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

}  // namespace ingester::http_internal
