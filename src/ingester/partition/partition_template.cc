#include "ingester/partition/partition_template.h"

#include <nlohmann/json.hpp>

#include <set>

#include "ingester/common/error.h"
#include "ingester/common/utf8.h"
#include "ingester/partition/partition_key.h"

namespace ingester::partition {

struct PartitionTemplate::State {
  std::vector<TemplatePart> parts;
  std::vector<std::string> tag_names;
  TimeFormat time_format;
  size_t time_part_index = 0;
};

namespace {

using nlohmann::json;

constexpr std::string_view kTagValueKey = "tag_value";
constexpr std::string_view kTimeFormatKey = "time_format";

arrow::Status CheckTagName(const std::string& name) {
  if (name.empty()) return InvalidInput("partition template: a tag_value names no tag");
  if (name == "time") {
    return InvalidInput(
        "partition template: tag_value 'time' names the time column, not a tag "
        "(use a time_format part)");
  }
  if (name.size() > kMaxKeyValueBytes) {
    return InvalidInput("partition template: tag name '" + name.substr(0, 32) +
                        "...' is longer than " + std::to_string(kMaxKeyValueBytes) +
                        " bytes");
  }
  for (size_t i = 0; i < name.size();) {
    const auto c = static_cast<unsigned char>(name[i]);
    const size_t n = Utf8SequenceLength(name, i);
    if (c < 0x20 || c == 0x7f || n == 0) {
      return InvalidInput("partition template: tag name '" + name +
                          "' has a control character or is not valid UTF-8");
    }
    i += n;
  }
  return arrow::Status::OK();
}

}  // namespace

PartitionTemplate::PartitionTemplate() : state_(DefaultState()) {}

PartitionTemplate::PartitionTemplate(std::shared_ptr<const State> state)
    : state_(std::move(state)) {}

arrow::Result<PartitionTemplate> PartitionTemplate::Make(
    std::vector<TemplatePart> parts) {
  if (parts.empty()) return InvalidInput("partition template: it has no parts");
  if (parts.size() > kMaxTemplateParts) {
    return InvalidInput("partition template: it has " + std::to_string(parts.size()) +
                        " parts, more than the limit of " +
                        std::to_string(kMaxTemplateParts));
  }
  auto state = std::make_shared<State>();
  std::set<std::string> tags;
  int time_parts = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const TemplatePart& part = parts[i];
    if (part.kind == TemplatePart::Kind::kTimeFormat) {
      if (++time_parts > 1) {
        return InvalidInput("partition template: it has more than one time_format part");
      }
      ARROW_ASSIGN_OR_RAISE(state->time_format, TimeFormat::Make(part.value));
      state->time_part_index = i;
      continue;
    }
    ARROW_RETURN_NOT_OK(CheckTagName(part.value));
    if (!tags.insert(part.value).second) {
      return InvalidInput("partition template: tag '" + part.value + "' appears twice");
    }
    state->tag_names.push_back(part.value);
  }
  if (time_parts == 0) {
    return InvalidInput("partition template: it needs exactly one time_format part");
  }
  state->parts = std::move(parts);
  return PartitionTemplate(std::move(state));
}

arrow::Result<PartitionTemplate> PartitionTemplate::FromJson(std::string_view text) {
  json doc;
  // nlohmann/json reports syntax errors by exception; they stop here.
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return InvalidInput(std::string("partition template: not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) return InvalidInput("partition template: must be a JSON object");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it.key() != "parts") {
      return InvalidInput("partition template: unknown key '" + it.key() +
                          "' (expected only 'parts')");
    }
  }
  auto parts_it = doc.find("parts");
  if (parts_it == doc.end() || !parts_it->is_array()) {
    return InvalidInput("partition template: 'parts' must be an array of parts");
  }
  std::vector<TemplatePart> parts;
  for (size_t i = 0; i < parts_it->size(); ++i) {
    const json& part = (*parts_it)[i];
    const std::string where = "partition template: part " + std::to_string(i);
    if (!part.is_object() || part.size() != 1) {
      return InvalidInput(where + " must be an object with exactly one key, '" +
                          std::string(kTagValueKey) + "' or '" +
                          std::string(kTimeFormatKey) + "'");
    }
    const std::string key = part.begin().key();
    const json& value = part.begin().value();
    if (key != kTagValueKey && key != kTimeFormatKey) {
      return InvalidInput(where + " has unknown key '" + key + "' (expected '" +
                          std::string(kTagValueKey) + "' or '" +
                          std::string(kTimeFormatKey) + "')");
    }
    if (!value.is_string())
      return InvalidInput(where + ": '" + key + "' must be a string");
    parts.push_back(key == kTagValueKey ? TemplatePart::Tag(value.get<std::string>())
                                        : TemplatePart::Time(value.get<std::string>()));
  }
  return Make(std::move(parts));
}

std::string PartitionTemplate::ToJson() const {
  json parts = json::array();
  for (const TemplatePart& part : state_->parts) {
    parts.push_back(
        {{std::string(part.kind == TemplatePart::Kind::kTagValue ? kTagValueKey
                                                                 : kTimeFormatKey),
          part.value}});
  }
  // Tag names are bytes; invalid UTF-8 is replaced rather than thrown about.
  return json{{"parts", std::move(parts)}}.dump(-1, ' ', false,
                                                json::error_handler_t::replace);
}

const std::vector<TemplatePart>& PartitionTemplate::parts() const {
  return state_->parts;
}

const std::vector<std::string>& PartitionTemplate::tag_names() const {
  return state_->tag_names;
}

const TimeFormat& PartitionTemplate::time_format() const { return state_->time_format; }

size_t PartitionTemplate::time_part_index() const { return state_->time_part_index; }

bool PartitionTemplate::is_default() const { return *this == PartitionTemplate(); }

bool PartitionTemplate::operator==(const PartitionTemplate& other) const {
  return state_ == other.state_ || state_->parts == other.state_->parts;
}

const std::shared_ptr<const PartitionTemplate::State>& PartitionTemplate::DefaultState() {
  // Never destroyed: templates in static objects may outlive any destruction order.
  static const auto* state = [] {
    auto s = std::make_shared<State>();
    s->parts = {TemplatePart::Time(std::string(kDefaultTimeFormat))};
    return new std::shared_ptr<const State>(std::move(s));
  }();
  return *state;
}

}  // namespace ingester::partition
