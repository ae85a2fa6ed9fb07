// TLS of the servers (`serve --tls-cert FILE --tls-key FILE`: HTTPS on the HTTP port,
// grpc+tls on the Flight port) and of the client subcommands (`--tls`, `--tls-ca FILE`).
// OpenSSL through Boost.Asio for HTTP; Flight gets the PEM text and uses the TLS of the
// gRPC inside Arrow.
#pragma once

#include <memory>
#include <string>

#include <arrow/result.h>

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace ingester {

// A server's certificate chain and private key, PEM, as read from --tls-cert and
// --tls-key.
struct TlsCredentials {
  std::string cert_file, key_file;  // for messages
  std::string cert_pem;             // the server's certificate first, then intermediates
  std::string key_pem;              // unencrypted
};

// Reads and checks --tls-cert and --tls-key: both files readable, the certificate chain
// and the private key parse, and the key is the certificate's. Every error names the
// flag and the file.
arrow::Result<TlsCredentials> LoadTlsCredentials(const std::string& cert_file,
                                                 const std::string& key_file);

// A server context holding `credentials`: TLS 1.2 and 1.3 only, OpenSSL's idle buffers
// released (SSL_MODE_RELEASE_BUFFERS) so an idle connection holds less memory.
arrow::Result<std::unique_ptr<boost::asio::ssl::context>> MakeServerTlsContext(
    const TlsCredentials& credentials);

// A client context that verifies the server's certificate chain against the CA
// certificates (PEM) in `ca_file`, or against the system's trust store when it is
// empty. The caller verifies the host name (boost::asio::ssl::host_name_verification).
arrow::Result<std::unique_ptr<boost::asio::ssl::context>> MakeClientTlsContext(
    const std::string& ca_file);

}  // namespace ingester
