#include "ingester/server/configure_api.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <vector>

#include "ingester/common/error.h"
#include "ingester/common/json.h"
#include "ingester/server/ingester.h"

namespace ingester {

namespace {

using Json = nlohmann::json;

HttpReply Error(int status, std::string_view message) {
  return {status, JsonErrorBody(message)};
}

// The parsed body, or a 400 reply naming what is wrong with it.
struct Body {
  Json doc;
  std::optional<HttpReply> error;
};

Body ParseBody(std::string_view text, const std::set<std::string>& allowed) {
  Body out;
  // nlohmann/json reports syntax errors by exception; they stop here.
  try {
    out.doc = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    out.error =
        Error(400, std::string("the request body is not valid JSON: ") + e.what());
    return out;
  }
  if (!out.doc.is_object()) {
    out.error = Error(400, "the request body must be a JSON object");
    return out;
  }
  for (auto it = out.doc.begin(); it != out.doc.end(); ++it) {
    if (!allowed.contains(it.key())) {
      std::string expected;
      for (const auto& key : allowed)
        expected += (expected.empty() ? "'" : ", '") + key + "'";
      out.error = Error(400, "unknown key '" + it.key() +
                                 "' in the request body (expected " + expected + ")");
      return out;
    }
  }
  return out;
}

// The string member `key`, or nullopt after setting a 400 reply.
std::optional<std::string> RequiredString(const Json& doc, const char* key,
                                          std::optional<HttpReply>* error) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_string() || it->get<std::string>().empty()) {
    *error = Error(400, std::string("'") + key + "' must be a non-empty string");
    return std::nullopt;
  }
  return it->get<std::string>();
}

// The template's JSON text ("" when absent), or nullopt after setting a 400 reply.
std::optional<std::string> TemplateText(const Json& doc,
                                        std::optional<HttpReply>* error) {
  auto it = doc.find("partition_template");
  if (it == doc.end() || it->is_null()) return std::string();
  if (!it->is_object()) {
    *error = Error(400, "'partition_template' must be an object: {\"parts\": [...]}");
    return std::nullopt;
  }
  return it->dump();
}

int StatusFor(const arrow::Status& status) {
  switch (ErrorKindOf(status).value_or(ErrorKind::kRetryable)) {
    case ErrorKind::kInvalidInput:
      return 400;
    case ErrorKind::kConflict:
      return 409;
    case ErrorKind::kNotFound:
      return 404;
    case ErrorKind::kLimit:
      return 422;
    case ErrorKind::kBackpressure:
      return 503;
    default:
      return 500;
  }
}

HttpReply FromOutcome(const arrow::Result<ConfigureOutcome>& outcome,
                      std::string_view what) {
  if (!outcome.ok()) {
    const int status = StatusFor(outcome.status());
    if (status >= 500)
      spdlog::warn("configure {} failed: {}", what, outcome.status().ToString());
    return Error(status, outcome.status().message());
  }
  const bool created = *outcome == ConfigureOutcome::kCreated;
  return {created ? 201 : 200,
          std::string("{\"status\":") + (created ? "\"created\"" : "\"exists\"") + "}"};
}

}  // namespace

std::string JsonErrorBody(std::string_view message) {
  std::string body = "{\"error\":";
  json::AppendString(&body, message);
  body += "}";
  return body;
}

HttpReply ConfigureDatabase(Ingester* ingester, std::string_view text) {
  Body body = ParseBody(text, {"db", "partition_template"});
  if (body.error) return *body.error;
  auto db = RequiredString(body.doc, "db", &body.error);
  if (!db) return *body.error;
  auto template_text = TemplateText(body.doc, &body.error);
  if (!template_text) return *body.error;
  return FromOutcome(ingester->CreateDatabase(*db, *template_text),
                     "database '" + *db + "'");
}

HttpReply ListDatabases(Ingester* ingester) {
  auto listing = ingester->DatabasesJson();
  if (!listing.ok()) return Error(500, listing.status().message());
  return {200, std::move(*listing)};
}

HttpReply ConfigureTable(Ingester* ingester, std::string_view text) {
  Body body = ParseBody(text, {"db", "table", "partition_template", "tags"});
  if (body.error) return *body.error;
  auto db = RequiredString(body.doc, "db", &body.error);
  if (!db) return *body.error;
  auto table = RequiredString(body.doc, "table", &body.error);
  if (!table) return *body.error;
  auto template_text = TemplateText(body.doc, &body.error);
  if (!template_text) return *body.error;
  std::vector<std::string> tags;
  if (auto it = body.doc.find("tags"); it != body.doc.end()) {
    if (!it->is_array()) return Error(400, "'tags' must be an array of tag names");
    for (const auto& tag : *it) {
      if (!tag.is_string()) return Error(400, "'tags' must be an array of tag names");
      tags.push_back(tag.get<std::string>());
    }
  }
  return FromOutcome(ingester->CreateTable(*db, *table, *template_text, tags),
                     "table '" + *table + "'");
}

}  // namespace ingester
