#include "ingester/server/influxql_api.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "ingester/common/error.h"
#include "ingester/server/ingester.h"

namespace ingester {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kSupported =
    "this server ingests data and answers only CREATE DATABASE, SHOW DATABASES, SHOW "
    "MEASUREMENTS, SHOW TAG KEYS, SHOW FIELD KEYS and SHOW RETENTION POLICIES on "
    "/query; read data with Arrow Flight or POST /api/v3/query (see docs/reading.md)";

struct Token {
  enum class Kind { kWord, kQuoted, kString, kPunct };
  Kind kind;
  std::string text;  // unquoted and unescaped
};

using Statement = std::vector<Token>;

// Splits `q` into statements of tokens; an error message for an unterminated quote.
std::optional<std::string> Tokenize(std::string_view q, std::vector<Statement>* out) {
  out->emplace_back();
  size_t i = 0;
  while (i < q.size()) {
    const char c = q[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
    } else if (c == '-' && i + 1 < q.size() && q[i + 1] == '-') {
      while (i < q.size() && q[i] != '\n') ++i;  // a comment to the end of the line
    } else if (c == ';') {
      out->emplace_back();
      ++i;
    } else if (c == '"' || c == '\'') {
      std::string text;
      size_t j = i + 1;
      bool closed = false;
      for (; j < q.size(); ++j) {
        if (q[j] == '\\' && j + 1 < q.size()) {
          text += q[++j];
        } else if (q[j] == c) {
          closed = true;
          break;
        } else {
          text += q[j];
        }
      }
      if (!closed) {
        return std::string("found unterminated ") + (c == '"' ? "identifier" : "string") +
               " at char " + std::to_string(i + 1);
      }
      out->back().push_back(
          {c == '"' ? Token::Kind::kQuoted : Token::Kind::kString, std::move(text)});
      i = j + 1;
    } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
               (c >= '0' && c <= '9')) {
      size_t j = i;
      while (j < q.size() &&
             ((q[j] >= 'A' && q[j] <= 'Z') || (q[j] >= 'a' && q[j] <= 'z') ||
              q[j] == '_' || (q[j] >= '0' && q[j] <= '9'))) {
        ++j;
      }
      out->back().push_back({Token::Kind::kWord, std::string(q.substr(i, j - i))});
      i = j;
    } else {
      out->back().push_back({Token::Kind::kPunct, std::string(1, c)});
      ++i;
    }
  }
  std::erase_if(*out, [](const Statement& s) { return s.empty(); });
  return std::nullopt;
}

bool IsKeyword(const Token& t, std::string_view keyword) {
  if (t.kind != Token::Kind::kWord || t.text.size() != keyword.size()) return false;
  for (size_t i = 0; i < keyword.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(t.text[i])) != keyword[i]) return false;
  }
  return true;
}

bool IsName(const Token& t) {
  return t.kind == Token::Kind::kWord || t.kind == Token::Kind::kQuoted;
}

// The statement's words, upper-cased, for messages ("SELECT", "DROP MEASUREMENT").
std::string Lead(const Statement& s, size_t words) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < words && s[i].kind == Token::Kind::kWord; ++i) {
    if (!out.empty()) out += ' ';
    for (char c : s[i].text)
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

// One statement's outcome: a result object without its statement_id, or an error.
struct Outcome {
  Json result = Json::object();
  std::optional<std::string> error;
};

Outcome Fail(std::string message) { return {Json::object(), std::move(message)}; }

// A cursor over one statement's tokens.
class Cursor {
 public:
  explicit Cursor(const Statement& s) : s_(s) {}
  bool AtEnd() const { return pos_ >= s_.size(); }
  bool Accept(std::string_view keyword) {
    if (AtEnd() || !IsKeyword(s_[pos_], keyword)) return false;
    ++pos_;
    return true;
  }
  bool AcceptPunct(char c) {
    if (AtEnd() || s_[pos_].kind != Token::Kind::kPunct || s_[pos_].text[0] != c)
      return false;
    ++pos_;
    return true;
  }
  std::optional<std::string> Name() {
    if (AtEnd() || !IsName(s_[pos_])) return std::nullopt;
    return s_[pos_++].text;
  }
  // A measurement reference "m", "rp"."m" or "db"."rp"."m": the measurement's name.
  std::optional<std::string> Measurement() {
    auto name = Name();
    while (name && AcceptPunct('.')) name = Name();
    return name;
  }
  // What is left, for an error message.
  std::string Rest() const {
    std::string out;
    for (size_t i = pos_; i < s_.size(); ++i) {
      if (!out.empty() && s_[i].kind != Token::Kind::kPunct) out += ' ';
      out += s_[i].kind == Token::Kind::kQuoted   ? "\"" + s_[i].text + "\""
             : s_[i].kind == Token::Kind::kString ? "'" + s_[i].text + "'"
                                                  : s_[i].text;
    }
    return out;
  }

 private:
  const Statement& s_;
  size_t pos_ = 0;
};

std::string_view FieldTypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kF64:
      return "float";
    case ColumnType::kI64:
      return "integer";
    case ColumnType::kU64:
      return "unsigned";
    case ColumnType::kString:
      return "string";
    case ColumnType::kBool:
      return "boolean";
    case ColumnType::kTag:
    case ColumnType::kTime:
      break;
  }
  return "";
}

class Executor {
 public:
  Executor(Ingester* ingester, std::string_view db) : ingester_(ingester), db_(db) {}

  Outcome Run(const Statement& s) {
    Cursor c(s);
    if (c.Accept("CREATE")) {
      if (c.Accept("DATABASE")) return CreateDatabase(c);
      return Unsupported(s, 2);
    }
    if (c.Accept("SHOW")) {
      if (c.Accept("DATABASES")) return End(c, "SHOW DATABASES", ShowDatabases());
      if (c.Accept("MEASUREMENTS")) return ShowMeasurements(c);
      if (c.Accept("TAG") && c.Accept("KEYS")) return ShowKeys(c, /*tags=*/true);
      if (c.Accept("FIELD") && c.Accept("KEYS")) return ShowKeys(c, /*tags=*/false);
      if (c.Accept("RETENTION") && c.Accept("POLICIES")) return ShowRetentionPolicies(c);
      return Unsupported(s, 3);
    }
    if (c.Accept("DROP") || c.Accept("DELETE")) {
      return Fail(Lead(s, 2) +
                  " is not supported: this ingester never deletes data through /query "
                  "(persisted Parquet files are removed from the object store by its "
                  "operator); " +
                  std::string(kSupported));
    }
    return Unsupported(s, 1);
  }

 private:
  static Outcome Unsupported(const Statement& s, size_t words) {
    return Fail(Lead(s, words) + " is not supported: " + std::string(kSupported));
  }

  // `outcome` unless tokens are left over.
  static Outcome End(const Cursor& c, std::string_view what, Outcome outcome) {
    if (!c.AtEnd()) {
      return Fail(std::string(what) + " takes no further clause here (found '" +
                  c.Rest() + "'); " + std::string(kSupported));
    }
    return outcome;
  }

  // The database of `ON <db>` if given, else the `db` parameter.
  std::optional<std::string> Database(Cursor& c, std::optional<std::string>* error) {
    if (c.Accept("ON")) {
      auto name = c.Name();
      if (!name) *error = "ON must be followed by a database name";
      return name;
    }
    if (db_.empty()) {
      *error = "database name required (the db parameter or ON <database>)";
      return std::nullopt;
    }
    return std::string(db_);
  }

  Outcome CreateDatabase(Cursor& c) {
    auto name = c.Name();
    if (!name) return Fail("CREATE DATABASE must be followed by a database name");
    if (!c.AtEnd()) {
      return Fail("CREATE DATABASE takes no options here (found '" + c.Rest() +
                  "'): this ingester has no retention policies, data is kept in the "
                  "object store; use CREATE DATABASE " +
                  *name);
    }
    auto outcome = ingester_->CreateDatabase(*name, "");
    // A database that exists (with any partition template) is not an error, as in
    // InfluxDB.
    if (!outcome.ok() && ErrorKindOf(outcome.status()) != ErrorKind::kConflict) {
      return Fail(ingester_->ClientMessage(outcome.status()));
    }
    return {};
  }

  Outcome ShowDatabases() {
    auto names = ingester_->DatabaseNames();
    if (!names.ok()) return Fail(ingester_->ClientMessage(names.status()));
    Json series = {{"name", "databases"}, {"columns", {"name"}}};
    if (!names->empty()) {
      Json values = Json::array();
      for (const auto& n : *names) values.push_back({n});
      series["values"] = std::move(values);
    }
    return {Json{{"series", Json::array({std::move(series)})}}, std::nullopt};
  }

  Outcome ShowMeasurements(Cursor& c) {
    std::optional<std::string> error;
    auto db = Database(c, &error);
    if (!db) return Fail(*error);
    auto tables = ingester_->DescribeDatabase(*db);
    if (!tables.ok()) return Fail(ingester_->ClientMessage(tables.status()));
    Outcome out;
    if (!tables->empty()) {
      Json values = Json::array();
      for (const auto& t : *tables) values.push_back({t.name});
      out.result["series"] = Json::array(
          {Json{{"name", "measurements"}, {"columns", {"name"}}, {"values", values}}});
    }
    return End(c, "SHOW MEASUREMENTS", std::move(out));
  }

  Outcome ShowKeys(Cursor& c, bool tags) {
    const std::string what = tags ? "SHOW TAG KEYS" : "SHOW FIELD KEYS";
    std::optional<std::string> error;
    auto db = Database(c, &error);
    if (!db) return Fail(*error);
    std::vector<std::string> from;
    if (c.Accept("FROM")) {
      do {
        auto m = c.Measurement();
        if (!m) return Fail("FROM must be followed by measurement names");
        from.push_back(*m);
      } while (c.AcceptPunct(','));
    }
    if (!c.AtEnd()) {
      return Fail(what + " takes only ON and FROM here (found '" + c.Rest() + "')");
    }
    auto tables = ingester_->DescribeDatabase(*db);
    if (!tables.ok()) return Fail(ingester_->ClientMessage(tables.status()));
    Json all = Json::array();
    for (const auto& t : *tables) {
      if (!from.empty() && std::find(from.begin(), from.end(), t.name) == from.end())
        continue;
      Json values = Json::array();
      for (const auto& [name, type] : t.columns) {
        if (tags && type == ColumnType::kTag) values.push_back({name});
        if (!tags && !FieldTypeName(type).empty())
          values.push_back({name, FieldTypeName(type)});
      }
      if (values.empty()) continue;
      Json columns = tags ? Json{"tagKey"} : Json{"fieldKey", "fieldType"};
      all.push_back(Json{{"name", t.name}, {"columns", columns}, {"values", values}});
    }
    Outcome out;
    if (!all.empty()) out.result["series"] = std::move(all);
    return out;
  }

  Outcome ShowRetentionPolicies(Cursor& c) {
    std::optional<std::string> error;
    auto db = Database(c, &error);
    if (!db) return Fail(*error);
    if (!c.AtEnd()) {
      return Fail("SHOW RETENTION POLICIES takes only ON here (found '" + c.Rest() +
                  "')");
    }
    auto names = ingester_->DatabaseNames();
    if (!names.ok()) return Fail(ingester_->ClientMessage(names.status()));
    if (std::find(names->begin(), names->end(), *db) == names->end())
      return Fail("database not found: " + *db);
    Json series = {
        {"columns", {"name", "duration", "shardGroupDuration", "replicaN", "default"}},
        {"values", Json::array({Json::array({"autogen", "0s", "168h0m0s", 1, true})})}};
    return {Json{{"series", Json::array({std::move(series)})}}, std::nullopt};
  }

  Ingester* ingester_;
  std::string_view db_;
};

HttpReply BadRequest(const std::string& message) { return {400, JsonErrorBody(message)}; }

}  // namespace

HttpReply InfluxQuery(Ingester* ingester, const InfluxQueryRequest& request) {
  static constexpr std::string_view kEpochs[] = {"",  "h", "m",  "s", "ms",
                                                 "u", "µ", "ns", "n"};
  if (std::find(std::begin(kEpochs), std::end(kEpochs), request.epoch) ==
      std::end(kEpochs)) {
    return BadRequest("epoch must be one of h, m, s, ms, u, ns (got '" +
                      std::string(request.epoch) + "')");
  }
  std::vector<Statement> statements;
  if (auto error = Tokenize(request.q, &statements))
    return BadRequest("error parsing query: " + *error);
  if (statements.empty()) return BadRequest("missing required parameter \"q\"");
  Executor executor(ingester, request.db);
  Json results = Json::array();
  bool failed = false;
  for (size_t i = 0; i < statements.size(); ++i) {
    Json result = {{"statement_id", i}};
    if (failed) {
      result["error"] = "not executed";
    } else {
      Outcome outcome = executor.Run(statements[i]);
      if (outcome.error) {
        result["error"] = *outcome.error;
        failed = true;
      } else {
        for (auto it = outcome.result.begin(); it != outcome.result.end(); ++it)
          result[it.key()] = it.value();
      }
    }
    results.push_back(std::move(result));
  }
  return {200, Json{{"results", std::move(results)}}.dump()};
}

}  // namespace ingester
