#include "ingester/query/ticket.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <optional>

#include "ingester/common/error.h"

namespace ingester::query {

namespace {

using nlohmann::json;

arrow::Result<json> ParseJson(std::string_view text, std::string_view what) {
  // nlohmann/json reports syntax errors by exception; they stop here.
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return InvalidInput(std::string(what) + " is not valid JSON: " + e.what());
  }
}

std::string TypeName(const json& value) { return value.type_name(); }

arrow::Status CheckKeys(const json& object, std::string_view what, std::string_view path,
                        std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, unused] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string known;
      for (auto k : allowed) known += (known.empty() ? "" : ", ") + std::string(k);
      return InvalidInput(std::string(what) + ": unknown key '" + key + "' in " +
                          std::string(path) + " (known: " + known + ")");
    }
  }
  return arrow::Status::OK();
}

arrow::Result<std::string> RequiredString(const json& object, std::string_view what,
                                          const std::string& key) {
  const std::string prefix = std::string(what) + ": '" + key + "' ";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return InvalidInput(prefix + "is required");
  if (!it->is_string()) {
    return InvalidInput(prefix + "must be a string, not " + TypeName(*it));
  }
  std::string value = it->get<std::string>();
  if (value.empty()) return InvalidInput(prefix + "must not be empty");
  return value;
}

arrow::Result<std::optional<int64_t>> TimeBound(const json& time,
                                                const std::string& key) {
  auto it = time.find(key);
  if (it == time.end() || it->is_null()) return std::nullopt;
  const std::string path = "predicate.time." + key;
  if (it->is_number_integer()) {
    if (it->is_number_unsigned() &&
        it->get<uint64_t>() >
            static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InvalidInput("ticket: " + path + " is out of the int64 range");
    }
    return it->get<int64_t>();
  }
  return InvalidInput(
      "ticket: " + path + " must be an integer (nanoseconds since the epoch), not " +
      (it->is_number_float() ? std::string("a fraction") : TypeName(*it)));
}

arrow::Status ParsePredicate(const json& predicate, Predicate* out) {
  if (!predicate.is_object()) {
    return InvalidInput("ticket: 'predicate' must be an object, not " +
                        TypeName(predicate));
  }
  ARROW_RETURN_NOT_OK(CheckKeys(predicate, "ticket", "predicate", {"time", "tags"}));
  if (auto time = predicate.find("time"); time != predicate.end() && !time->is_null()) {
    if (!time->is_object()) {
      return InvalidInput("ticket: predicate.time must be an object, not " +
                          TypeName(*time));
    }
    ARROW_RETURN_NOT_OK(CheckKeys(*time, "ticket", "predicate.time", {"start", "end"}));
    ARROW_ASSIGN_OR_RAISE(out->time.start, TimeBound(*time, "start"));
    ARROW_ASSIGN_OR_RAISE(out->time.end, TimeBound(*time, "end"));
  }
  if (auto tags = predicate.find("tags"); tags != predicate.end() && !tags->is_null()) {
    if (!tags->is_object()) {
      return InvalidInput("ticket: predicate.tags must be an object, not " +
                          TypeName(*tags));
    }
    for (const auto& [name, value] : tags->items()) {
      const std::string path = "predicate.tags." + name;
      if (name.empty())
        return InvalidInput("ticket: predicate.tags has an empty tag name");
      TagPredicate tag{name, {}};
      if (value.is_string()) {
        tag.values.push_back(value.get<std::string>());
      } else if (value.is_array()) {
        for (const auto& v : value) {
          if (!v.is_string()) {
            return InvalidInput("ticket: " + path + " must list strings, not " +
                                TypeName(v));
          }
          tag.values.push_back(v.get<std::string>());
        }
      } else {
        return InvalidInput("ticket: " + path +
                            " must be a string or a list of strings, not " +
                            TypeName(value));
      }
      out->tags.push_back(std::move(tag));
    }
  }
  return arrow::Status::OK();
}

// The value of the optional string `key` of the ticket, which must be one of `choices`;
// nullopt when it is absent or null.
arrow::Result<std::optional<std::string>> OptionalChoice(
    const json& doc, const std::string& key,
    std::initializer_list<std::string_view> choices) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::nullopt;
  std::string expected;
  for (auto choice : choices) {
    expected += (expected.empty() ? "\"" : " or \"") + std::string(choice) + "\"";
  }
  const std::string prefix = "ticket: '" + key + "' must be " + expected + ", not ";
  if (!it->is_string()) return InvalidInput(prefix + TypeName(*it));
  std::string value = it->get<std::string>();
  if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
    return InvalidInput(prefix + "\"" + value + "\"");
  }
  return value;
}

}  // namespace

arrow::Result<QueryRequest> ParseTicket(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(json doc, ParseJson(text, "ticket"));
  if (!doc.is_object()) {
    return InvalidInput("ticket must be a JSON object, not " + TypeName(doc));
  }
  ARROW_RETURN_NOT_OK(CheckKeys(doc, "ticket", "the ticket",
                                {"namespace", "table", "columns", "predicate", "scope",
                                 "partial", "tag_index_type"}));
  QueryRequest request;
  ARROW_ASSIGN_OR_RAISE(request.namespace_name,
                        RequiredString(doc, "ticket", "namespace"));
  ARROW_ASSIGN_OR_RAISE(request.table_name, RequiredString(doc, "ticket", "table"));
  if (auto columns = doc.find("columns"); columns != doc.end() && !columns->is_null()) {
    if (!columns->is_array()) {
      return InvalidInput("ticket: 'columns' must be a list of strings, not " +
                          TypeName(*columns));
    }
    for (const auto& c : *columns) {
      if (!c.is_string() || c.get<std::string>().empty()) {
        return InvalidInput("ticket: 'columns' must list non-empty strings, found " +
                            c.dump());
      }
      request.columns.push_back(c.get<std::string>());
    }
  }
  if (auto predicate = doc.find("predicate");
      predicate != doc.end() && !predicate->is_null()) {
    ARROW_RETURN_NOT_OK(ParsePredicate(*predicate, &request.predicate));
  }
  ARROW_ASSIGN_OR_RAISE(auto scope, OptionalChoice(doc, "scope", {"all", "buffer"}));
  if (scope == "buffer") request.scope = QueryScope::kBuffer;
  ARROW_ASSIGN_OR_RAISE(auto index,
                        OptionalChoice(doc, "tag_index_type", {"int32", "int16"}));
  if (index == "int16") request.tag_index_type = TagIndexType::kInt16;
  if (auto partial = doc.find("partial"); partial != doc.end() && !partial->is_null()) {
    if (!partial->is_boolean()) {
      return InvalidInput("ticket: 'partial' must be true or false, not " +
                          TypeName(*partial));
    }
    request.partial = partial->get<bool>();
  }
  return request;
}

std::string TicketJson(const QueryRequest& request) {
  json doc = json::object();
  doc["namespace"] = request.namespace_name;
  doc["table"] = request.table_name;
  if (!request.columns.empty()) doc["columns"] = request.columns;
  const Predicate& p = request.predicate;
  if (!p.empty()) {
    json predicate = json::object();
    if (!p.time.unbounded()) {
      json time = json::object();
      if (p.time.start) time["start"] = *p.time.start;
      if (p.time.end) time["end"] = *p.time.end;
      predicate["time"] = std::move(time);
    }
    if (!p.tags.empty()) {
      json tags = json::object();
      for (const auto& tag : p.tags) {
        if (tag.values.size() == 1) {
          tags[tag.tag] = tag.values[0];
        } else {
          tags[tag.tag] = tag.values;
        }
      }
      predicate["tags"] = std::move(tags);
    }
    doc["predicate"] = std::move(predicate);
  }
  if (request.scope == QueryScope::kBuffer) doc["scope"] = "buffer";
  if (request.partial) doc["partial"] = true;
  if (request.tag_index_type == TagIndexType::kInt16) doc["tag_index_type"] = "int16";
  // Invalid UTF-8 in a name is replaced rather than thrown about.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

arrow::Result<TableRef> ParseTableRef(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(json doc, ParseJson(text, "descriptor command"));
  if (!doc.is_object()) {
    return InvalidInput("descriptor command must be a JSON object, not " + TypeName(doc));
  }
  ARROW_RETURN_NOT_OK(CheckKeys(doc, "descriptor command", "the descriptor command",
                                {"namespace", "table"}));
  TableRef ref;
  ARROW_ASSIGN_OR_RAISE(ref.namespace_name,
                        RequiredString(doc, "descriptor command", "namespace"));
  ARROW_ASSIGN_OR_RAISE(ref.table_name,
                        RequiredString(doc, "descriptor command", "table"));
  return ref;
}

}  // namespace ingester::query
