#include "ingester/server/tls.h"

#include <utility>  // before Boost.Asio 1.74, whose awaitable.hpp misses it

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/asio/ssl/context.hpp>

#include "ingester/common/text_file.h"

namespace ingester {

namespace ssl = boost::asio::ssl;
using boost::system::error_code;

namespace {

// What OpenSSL says went wrong, e.g. "no start line" or "key values mismatch".
std::string OpenSslReason(const error_code& ec) {
  std::string reason = ec.message();
  ::ERR_clear_error();
  return reason;
}

std::string LastOpenSslError() {
  const unsigned long code = ::ERR_get_error();
  ::ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ::ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// Loads the certificate chain and the key into `context`; errors name flag and file.
arrow::Status UseCredentials(const TlsCredentials& credentials, ssl::context* context) {
  error_code ec;
  context->use_certificate_chain(
      boost::asio::buffer(credentials.cert_pem.data(), credentials.cert_pem.size()), ec);
  if (ec) {
    return arrow::Status::Invalid("--tls-cert: ", credentials.cert_file,
                                  " holds no valid PEM certificate (", OpenSslReason(ec),
                                  ")");
  }
  context->use_private_key(
      boost::asio::buffer(credentials.key_pem.data(), credentials.key_pem.size()),
      ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
                X509_R_KEY_VALUES_MISMATCH) {
    ::ERR_clear_error();
    return arrow::Status::Invalid("--tls-key: ", credentials.key_file,
                                  " is not the private key of the certificate in ",
                                  credentials.cert_file);
  }
  if (ec) {
    return arrow::Status::Invalid("--tls-key: ", credentials.key_file,
                                  " holds no valid unencrypted PEM private key (",
                                  OpenSslReason(ec), ")");
  }
  if (::SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return arrow::Status::Invalid("--tls-key: ", credentials.key_file,
                                  " is not the private key of the certificate in ",
                                  credentials.cert_file, " (", LastOpenSslError(), ")");
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<TlsCredentials> LoadTlsCredentials(const std::string& cert_file,
                                                 const std::string& key_file) {
  TlsCredentials credentials;
  credentials.cert_file = cert_file;
  credentials.key_file = key_file;
  ARROW_ASSIGN_OR_RAISE(credentials.cert_pem, ReadFlagFile("--tls-cert", cert_file));
  ARROW_ASSIGN_OR_RAISE(credentials.key_pem, ReadFlagFile("--tls-key", key_file));
  ARROW_RETURN_NOT_OK(MakeServerTlsContext(credentials).status());
  return credentials;
}

arrow::Result<std::unique_ptr<ssl::context>> MakeServerTlsContext(
    const TlsCredentials& credentials) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       ec);
  if (ec) return arrow::Status::IOError("TLS: ", OpenSslReason(ec));
  ::SSL_CTX_set_mode(context->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  ARROW_RETURN_NOT_OK(UseCredentials(credentials, context.get()));
  return context;
}

arrow::Result<std::unique_ptr<ssl::context>> MakeClientTlsContext(
    const std::string& ca_file) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1,
                       ec);
  if (ec) return arrow::Status::IOError("TLS: ", OpenSslReason(ec));
  if (ca_file.empty()) {
    context->set_default_verify_paths(ec);
    if (ec) {
      return arrow::Status::IOError("TLS: cannot load the system's CA certificates (",
                                    OpenSslReason(ec), ")");
    }
  } else {
    ARROW_ASSIGN_OR_RAISE(const std::string pem, ReadFlagFile("--tls-ca", ca_file));
    context->add_certificate_authority(boost::asio::buffer(pem.data(), pem.size()), ec);
    if (ec) {
      return arrow::Status::Invalid("--tls-ca: ", ca_file,
                                    " holds no valid PEM certificate (",
                                    OpenSslReason(ec), ")");
    }
  }
  context->set_verify_mode(ssl::verify_peer, ec);
  if (ec) return arrow::Status::IOError("TLS: ", OpenSslReason(ec));
  return context;
}

}  // namespace ingester
