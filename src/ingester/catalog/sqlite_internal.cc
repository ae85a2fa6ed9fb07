#include "ingester/catalog/sqlite_internal.h"

#include <string>

#include "ingester/common/error.h"

namespace ingester::catalog::sqlite {

// --- Statement -----------------------------------------------------------------

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement& Statement::Bind(int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, next_param_++, value);
  if (rc != SQLITE_OK && bind_status_.ok()) bind_status_ = conn_->Error(rc, "bind");
  return *this;
}

Statement& Statement::Bind(std::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so `value` need not outlive the call.
  const int rc = sqlite3_bind_text64(stmt_, next_param_++, value.data(), value.size(),
                                     SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_status_.ok()) bind_status_ = conn_->Error(rc, "bind");
  return *this;
}

arrow::Result<bool> Statement::Step() {
  ARROW_RETURN_NOT_OK(bind_status_);
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return conn_->Error(rc, sqlite3_sql(stmt_));
}

arrow::Status Statement::Run() {
  while (true) {
    ARROW_ASSIGN_OR_RAISE(bool row, Step());
    if (!row) return arrow::Status::OK();
  }
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::Text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  return data == nullptr ? std::string() : std::string(data, static_cast<size_t>(size));
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// --- Connection ----------------------------------------------------------------

arrow::Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path,
                                                            int busy_timeout_ms) {
  sqlite3* db = nullptr;
  // NOMUTEX: the owner serialises every use of the connection.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  std::unique_ptr<Connection> conn(new Connection(path, db));
  if (rc != SQLITE_OK) {
    if (db == nullptr) return arrow::Status::OutOfMemory("sqlite3_open_v2");
    return conn->Error(rc, "open");
  }
  sqlite3_extended_result_codes(db, 1);
  const int timeout_rc = sqlite3_busy_timeout(db, busy_timeout_ms);
  if (timeout_rc != SQLITE_OK) return conn->Error(timeout_rc, "busy_timeout");
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

arrow::Status Connection::Exec(const char* sql) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(rc, sql);
  return arrow::Status::OK();
}

arrow::Result<Statement> Connection::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc =
        sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return Error(rc, sql);
    it = cache_.emplace(sql, stmt).first;
  }
  return Statement(this, it->second);
}

void Connection::RollbackIfOpen() {
  if (sqlite3_get_autocommit(db_) == 0) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

arrow::Status Connection::Error(int rc, std::string_view context) const {
  std::string message = "catalog " + path_ + ": sqlite error " + std::to_string(rc) +
                        " (" + sqlite3_errstr(rc) + ")";
  const char* detail = sqlite3_errmsg(db_);
  if (detail != nullptr && std::string_view(detail) != sqlite3_errstr(rc)) {
    message += ": " + std::string(detail);
  }
  std::string_view ctx = context.substr(0, 120);
  message += " [in " + std::string(ctx) + (ctx.size() < context.size() ? "...]" : "]");
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return MakeError(ErrorKind::kRetryable, arrow::StatusCode::IOError,
                       std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLoss(std::move(message));
    default:
      return arrow::Status::IOError(std::move(message));
  }
}

bool IsBusy(const arrow::Status& status) {
  return ErrorKindOf(status) == ErrorKind::kRetryable;
}

// --- string lists ---------------------------------------------------------------

std::string EncodeStringList(const std::vector<std::string>& values) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (const char c : values[i]) {
      const auto b = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (b < 0x20) {
        out += "\\u00";
        out += kHex[b >> 4];
        out += kHex[b & 0xF];
      } else {
        out += c;
      }
    }
    out += '"';
  }
  return out + "]";
}

arrow::Result<std::vector<std::string>> DecodeStringList(std::string_view text) {
  const auto bad = [&]() {
    return DataLoss("catalog holds a malformed string list: " +
                    std::string(text.substr(0, 200)));
  };
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::string> out;
  size_t i = 0;
  if (i >= text.size() || text[i++] != '[') return bad();
  if (i < text.size() && text[i] == ']') {
    if (i + 1 != text.size()) return bad();
    return out;
  }
  while (true) {
    if (i >= text.size() || text[i++] != '"') return bad();
    std::string value;
    while (true) {
      if (i >= text.size()) return bad();
      const char c = text[i++];
      if (c == '"') break;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (i >= text.size()) return bad();
      const char e = text[i++];
      if (e == '"' || e == '\\' || e == '/') {
        value += e;
      } else if (e == 'u') {
        // Only what EncodeStringList writes: \u00XX.
        if (i + 4 > text.size() || text[i] != '0' || text[i + 1] != '0') return bad();
        const int h = hex(text[i + 2]);
        const int l = hex(text[i + 3]);
        if (h < 0 || l < 0) return bad();
        value += static_cast<char>(h * 16 + l);
        i += 4;
      } else {
        return bad();
      }
    }
    out.push_back(std::move(value));
    if (i >= text.size()) return bad();
    const char sep = text[i++];
    if (sep == ']') {
      if (i != text.size()) return bad();
      return out;
    }
    if (sep != ',') return bad();
  }
}

}  // namespace ingester::catalog::sqlite
