#include "ingester/catalog/pg_internal.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>

#include "ingester/common/error.h"

namespace ingester::catalog::pg {

namespace {

// libpq's message on one line (it spreads some over several, indented with tabs).
std::string Trimmed(const char* message) {
  std::string text;
  for (const char* p = message == nullptr ? "" : message; *p != '\0'; ++p) {
    if (*p == '\n' || *p == '\t') {
      if (!text.empty() && text.back() != ' ') text += ' ';
    } else {
      text += *p;
    }
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

arrow::Status Unreachable(const std::string& server, const std::string& what) {
  return MakeError(ErrorKind::kRetryable, arrow::StatusCode::IOError,
                   "catalog " + server + ": " + what);
}

}  // namespace

std::string RedactUrl(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "<libpq connection string>";
  const size_t authority = scheme + 3;
  size_t end = url.find_first_of("/?", authority);
  if (end == std::string::npos) end = url.size();
  std::string out = url.substr(0, authority);
  const size_t at = url.rfind('@', end);
  if (at != std::string::npos && at >= authority) {
    const std::string userinfo = url.substr(authority, at - authority);
    out += userinfo.substr(0, userinfo.find(':')) + "@";
    out += url.substr(at + 1, end - at - 1);
  } else {
    out += url.substr(authority, end - authority);
  }
  // The path (database name) without the query string, which may carry a password.
  const size_t query = url.find('?', end);
  out += url.substr(end, (query == std::string::npos ? url.size() : query) - end);
  return out;
}

Rows::~Rows() {
  if (result_ != nullptr) PQclear(result_);
}

int Rows::size() const { return result_ == nullptr ? 0 : PQntuples(result_); }

int64_t Rows::Int(int row, int column) const {
  return std::strtoll(PQgetvalue(result_, row, column), nullptr, 10);
}

std::string Rows::Text(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column),
                     static_cast<size_t>(PQgetlength(result_, row, column)));
}

int64_t Rows::affected() const {
  const char* text = result_ == nullptr ? "" : PQcmdTuples(result_);
  return text[0] == '\0' ? 0 : std::strtoll(text, nullptr, 10);
}

arrow::Result<std::unique_ptr<Connection>> Connection::Open(const std::string& url,
                                                            const std::string& server,
                                                            int connect_timeout_seconds) {
  // Our defaults come first: values in the URL override them (expand_dbname).
  const std::string timeout = std::to_string(connect_timeout_seconds);
  const char* keywords[] = {"connect_timeout", "application_name", "client_encoding",
                            "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "ingester", "UTF8", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Unreachable(server, "cannot allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string message = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return Unreachable(server, "cannot connect: " + message);
  }
  auto out = std::unique_ptr<Connection>(new Connection(conn, server));
  // libpq prints the server's notices (such as "relation already exists, skipping")
  // to stderr; only warnings and errors are worth it.
  ARROW_RETURN_NOT_OK(out->Exec("SET client_min_messages = warning"));
  return out;
}

Connection::~Connection() { PQfinish(conn_); }

arrow::Status Connection::Failure(PGresult* result, const char* sql) {
  const char* state =
      result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const std::string sqlstate = state == nullptr ? "" : state;
  std::string message =
      Trimmed(result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
  if (message.empty()) message = Trimmed(PQerrorMessage(conn_));
  if (PQstatus(conn_) != CONNECTION_OK || sqlstate.starts_with("08") ||
      sqlstate.starts_with("57P0")) {
    last_failure_ = FailureKind::kBroken;
    return Unreachable(server_, "connection lost: " + message);
  }
  if (sqlstate == "40001" || sqlstate == "40P01") {
    last_failure_ = FailureKind::kRetry;
    return MakeError(ErrorKind::kRetryable, arrow::StatusCode::IOError,
                     "catalog " + server_ + ": transaction aborted by concurrent " +
                         "updates (SQLSTATE " + sqlstate + "): " + message);
  }
  last_failure_ = FailureKind::kOther;
  if (sqlstate == "22021" || sqlstate == "22P05") {
    return InvalidInput("catalog " + server_ + " cannot store the text: " + message);
  }
  std::string first_line(sql, std::min<size_t>(std::strlen(sql), 80));
  return arrow::Status::IOError("catalog ", server_, ": ", message, " (SQLSTATE ",
                                sqlstate.empty() ? "none" : sqlstate, ", in \"",
                                first_line, "\")");
}

arrow::Status Connection::CheckResult(PGresult* result, const char* sql) {
  const ExecStatusType status =
      result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return arrow::Status::OK();
  arrow::Status st = Failure(result, sql);
  if (result != nullptr) PQclear(result);
  return st;
}

arrow::Status Connection::Exec(const char* sql) {
  PGresult* result = PQexec(conn_, sql);
  ARROW_RETURN_NOT_OK(CheckResult(result, sql));
  PQclear(result);
  last_failure_ = FailureKind::kNone;
  return arrow::Status::OK();
}

arrow::Result<Rows> Connection::Query(const char* sql, const Params& params) {
  std::vector<const char*> values;
  values.reserve(params.values().size());
  for (const std::string& v : params.values()) values.push_back(v.c_str());
  auto prepared = prepared_.find(sql);
  if (prepared == prepared_.end()) {
    std::string name = "ingester_" + std::to_string(prepared_.size());
    PGresult* result =
        PQprepare(conn_, name.c_str(), sql, static_cast<int>(values.size()),
                  /*paramTypes=*/nullptr);
    ARROW_RETURN_NOT_OK(CheckResult(result, sql));
    PQclear(result);
    prepared = prepared_.emplace(sql, std::move(name)).first;
  }
  PGresult* result = PQexecPrepared(
      conn_, prepared->second.c_str(), static_cast<int>(values.size()), values.data(),
      /*paramLengths=*/nullptr, /*paramFormats=*/nullptr, /*resultFormat=*/0);
  ARROW_RETURN_NOT_OK(CheckResult(result, sql));
  last_failure_ = FailureKind::kNone;
  return Rows(result);
}

void Connection::RollbackIfOpen() {
  if (PQstatus(conn_) != CONNECTION_OK) return;
  if (PQtransactionStatus(conn_) == PQTRANS_IDLE) return;
  PGresult* result = PQexec(conn_, "ROLLBACK");
  if (result != nullptr) PQclear(result);
}

bool Connection::Idle() const {
  return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

}  // namespace ingester::catalog::pg
