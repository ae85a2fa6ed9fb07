#include "ingester/write/write_builder.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <span>
#include <unordered_map>

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <arrow/util/bit_util.h>

#include "ingester/common/error.h"
#include "ingester/common/text_bytes.h"
#include "ingester/partition/row_partitioner.h"
#include "ingester/write/line_index.h"

namespace ingester {

namespace {

// --- the few places that know the parser's line representation -------------------

ColumnType ColumnTypeOfField(lp::FieldType type) {
  switch (type) {
    case lp::FieldType::kFloat:
      return ColumnType::kF64;
    case lp::FieldType::kInteger:
      return ColumnType::kI64;
    case lp::FieldType::kUnsigned:
      return ColumnType::kU64;
    case lp::FieldType::kBoolean:
      return ColumnType::kBool;
    case lp::FieldType::kString:
      return ColumnType::kString;
  }
  return ColumnType::kString;
}

// The 128-bit product of `a` and `b` folded to 64 bits.
inline uint64_t MulFold(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// A hash of every byte of `s` for the tables of one batch (not for anything stored):
// 16 bytes per multiplication, two independent lanes on long texts.
inline uint64_t HashText(std::string_view s) {
  constexpr uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                     k2 = 0x8ebc6af09c88c6e3ull;
  const char* p = s.data();
  size_t n = s.size();
  uint64_t seed = k0 ^ (n * k1);
  uint64_t a = 0, b = 0;
  if (n <= 16) {
    LoadEnds(p, n, &a, &b);
  } else {
    const char* const last = p + n - 16;  // the last 16 bytes, read at the end
    if (n > 48) {
      uint64_t other = seed;
      for (; p + 32 <= last; p += 32) {
        seed = MulFold(LoadWord(p) ^ k1, LoadWord(p + 8) ^ seed);
        other = MulFold(LoadWord(p + 16) ^ k2, LoadWord(p + 24) ^ other);
      }
      seed ^= other;
    }
    // Every chunk starting before `last`; the final one may overlap it.
    for (; p < last; p += 16) seed = MulFold(LoadWord(p) ^ k1, LoadWord(p + 8) ^ seed);
    a = LoadWord(last);
    b = LoadWord(last + 8);
  }
  return MulFold(k1 ^ n, MulFold(a ^ k1, b ^ seed));
}

// The key of a line's `k`-th key, counting its tags first, then its fields.
std::string_view KeyAt(const lp::ParsedLine& line, size_t k) {
  return k < line.tags.size() ? line.tags[k].key : line.fields[k - line.tags.size()].key;
}
ColumnType TypeAt(const lp::ParsedLine& line, size_t k) {
  return k < line.tags.size() ? ColumnType::kTag
                              : ColumnTypeOfField(line.fields[k - line.tags.size()].type);
}

uint64_t ShapeHash(const lp::ParsedLine& line) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over keys, separators and types
  auto mix = [&h](std::string_view s, uint8_t type) {
    for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    h = (h ^ (0x100u | type)) * 1099511628211ull;
  };
  for (const auto& tag : line.tags) mix(tag.key, 0xff);
  for (const auto& field : line.fields) mix(field.key, static_cast<uint8_t>(field.type));
  return h;
}

// The shapes of the lines of one table in one request: a shape is a line's keys (tags,
// then fields) with their types. Lines of one body usually share a few shapes, so each
// shape is looked up in the schema and checked once; a line only has to be recognised,
// usually by comparing its keys with the previous line's.
class ShapeIndex {
 public:
  // The shape of `line`, new if no earlier line had it. `line` must outlive the index.
  uint32_t Of(const lp::ParsedLine* line) {
    if (last_ < models_.size() && lp::SameKeys(*line, *models_[last_])) return last_;
    const uint64_t h = ShapeHash(*line);
    auto [lo, hi] = by_hash_.equal_range(h);
    for (auto it = lo; it != hi; ++it) {
      if (lp::SameKeys(*line, *models_[it->second])) return last_ = it->second;
    }
    const auto id = static_cast<uint32_t>(models_.size());
    models_.push_back(line);
    by_hash_.emplace(h, id);
    return last_ = id;
  }
  // Shapes in order of first appearance, each as the first line that had it.
  const std::vector<const lp::ParsedLine*>& models() const { return models_; }

 private:
  std::vector<const lp::ParsedLine*> models_;
  std::unordered_multimap<uint64_t, uint32_t> by_hash_;
  uint32_t last_ = 0;
};

// A shape checked against the table's schema.
struct ResolvedShape {
  std::vector<int> positions;  // schema position of each key (tags, then fields)
  int bad_key = -1;            // the first key the schema refuses, or -1
  std::string why;             // why it refuses it
};

// Maps column names to positions in the table schema.
class ColumnLookup {
 public:
  explicit ColumnLookup(const catalog::TableSchema& schema) {
    for (size_t i = 0; i < schema.columns.size(); ++i) {
      index_.emplace(schema.columns[i].name, static_cast<int>(i));
    }
  }
  // Position of `name`, or -1.
  int Find(std::string_view name) const {
    auto it = index_.find(name);
    return it == index_.end() ? -1 : it->second;
  }

 private:
  std::unordered_map<std::string_view, int> index_;  // views into the schema's names
};

// --- one column of a batch under construction -------------------------------------

// The distinct values of a tag column in order of first appearance, and their indices.
// The views point into the request (body or parse arena), which outlives the batch's
// construction.
class TagDictionary {
 public:
  int32_t IndexOf(std::string_view value) {
    if (last_ >= 0 && SameText(value, values_[static_cast<size_t>(last_)])) return last_;
    if (values_.size() * 2 >= slots_.size()) Grow();
    const uint64_t h = HashText(value);
    const auto check = static_cast<uint32_t>(h >> 32);
    // Open addressing, linear probing, at most half full: every value is found.
    for (size_t at = static_cast<size_t>(h) & mask_;; at = (at + 1) & mask_) {
      Slot& slot = slots_[at];
      if (slot.index < 0) {
        slot = {check, static_cast<int32_t>(values_.size())};
        values_.push_back(value);
        return last_ = slot.index;
      }
      if (slot.check == check &&
          SameText(values_[static_cast<size_t>(slot.index)], value)) {
        return last_ = slot.index;
      }
    }
  }
  arrow::Result<std::shared_ptr<arrow::Array>> Finish(arrow::MemoryPool* pool) const {
    int64_t bytes = 0;
    for (auto v : values_) bytes += static_cast<int64_t>(v.size());
    arrow::StringBuilder builder(pool);
    ARROW_RETURN_NOT_OK(builder.Reserve(static_cast<int64_t>(values_.size())));
    ARROW_RETURN_NOT_OK(builder.ReserveData(bytes));
    for (auto v : values_) builder.UnsafeAppend(v);
    return builder.Finish();
  }

 private:
  struct Slot {
    uint32_t check = 0;  // the value's hash's high half
    int32_t index = -1;  // into values_, or -1 when free
  };

  void Grow() {
    const size_t capacity = slots_.empty() ? 16 : slots_.size() * 2;
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    // Rehashing is rare (the table doubles) and cheaper than keeping every hash.
    for (size_t i = 0; i < values_.size(); ++i) {
      const uint64_t h = HashText(values_[i]);
      size_t at = static_cast<size_t>(h) & mask_;
      while (slots_[at].index >= 0) at = (at + 1) & mask_;
      slots_[at] = {static_cast<uint32_t>(h >> 32), static_cast<int32_t>(i)};
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  std::vector<std::string_view> values_;
  int32_t last_ = -1;  // the index returned last: neighbouring rows often repeat a value
};

// One column of a batch of a known number of rows, written row by row in row order (a
// row at most once). Rows never written are null. Values are stored straight into the
// column's buffers: no per-value status, no length bookkeeping.
class ColumnAccumulator {
 public:
  static arrow::Result<std::unique_ptr<ColumnAccumulator>> Make(ColumnType type,
                                                                int64_t rows,
                                                                arrow::MemoryPool* pool) {
    std::unique_ptr<ColumnAccumulator> c(new ColumnAccumulator(type, rows, pool));
    ARROW_ASSIGN_OR_RAISE(c->validity_, arrow::AllocateBuffer(BitmapBytes(rows), pool));
    c->valid_ = c->validity_->mutable_data();
    std::memset(c->valid_, 0, static_cast<size_t>(c->validity_->size()));
    if (type == ColumnType::kString) {
      c->strings_ = std::make_unique<arrow::StringBuilder>(pool);
      ARROW_RETURN_NOT_OK(c->strings_->Reserve(rows));
      return c;
    }
    const int64_t bytes = type == ColumnType::kTag    ? rows * 4
                          : type == ColumnType::kBool ? BitmapBytes(rows)
                                                      : rows * 8;
    ARROW_ASSIGN_OR_RAISE(c->values_, arrow::AllocateBuffer(bytes, pool));
    c->data_ = c->values_->mutable_data();
    // Booleans are set bit by bit.
    if (type == ColumnType::kBool) std::memset(c->values_->mutable_data(), 0, bytes);
    return c;
  }

  void SetTag(int64_t row, std::string_view value) {
    reinterpret_cast<int32_t*>(data_)[row] = dictionary_.IndexOf(value);
    SetValid(row);
  }
  // Gives `row` the tag value of the earlier row `from` (which has one).
  void CopyTag(int64_t row, int64_t from) {
    auto* indices = reinterpret_cast<int32_t*>(data_);
    indices[row] = indices[from];
    SetValid(row);
  }
  void SetInt(int64_t row, int64_t value) {
    reinterpret_cast<int64_t*>(data_)[row] = value;
    SetValid(row);
  }
  // The line was checked against the schema, so the field has the column's type.
  arrow::Status SetField(int64_t row, const lp::Field& field) {
    if (eight_bytes_) [[likely]] {
      // i64, u64 and f64 share the union's eight bytes: copy them whatever the type.
      std::memcpy(data_ + row * 8, &field.u64, 8);
      SetValid(row);
      return arrow::Status::OK();
    }
    return SetOtherField(row, field);
  }

  arrow::Result<std::shared_ptr<arrow::Array>> Finish() {
    const int64_t nulls = rows_ - present_;
    if (type_ == ColumnType::kString) {
      while (strings_->length() < rows_) ARROW_RETURN_NOT_OK(strings_->AppendNull());
      return strings_->Finish();
    }
    if (nulls > 0) ZeroNullSlots();
    std::shared_ptr<arrow::Buffer> validity;
    if (nulls > 0) validity = std::move(validity_);
    auto data = arrow::ArrayData::Make(ArrowTypeFor(type_), rows_,
                                       {std::move(validity), std::move(values_)}, nulls);
    if (type_ == ColumnType::kTag) {
      ARROW_ASSIGN_OR_RAISE(auto dictionary, dictionary_.Finish(pool_));
      data->dictionary = dictionary->data();
    }
    return arrow::MakeArray(std::move(data));
  }

 private:
  ColumnAccumulator(ColumnType type, int64_t rows, arrow::MemoryPool* pool)
      : type_(type),
        eight_bytes_(type == ColumnType::kI64 || type == ColumnType::kU64 ||
                     type == ColumnType::kF64),
        rows_(rows),
        pool_(pool) {}

  // SetField of the columns that are not eight bytes a value.
  arrow::Status SetOtherField(int64_t row, const lp::Field& field) {
    switch (type_) {
      case ColumnType::kBool:
        if (field.boolean) arrow::bit_util::SetBit(data_, row);
        break;
      case ColumnType::kString:
        while (strings_->length() < row) ARROW_RETURN_NOT_OK(strings_->AppendNull());
        ARROW_RETURN_NOT_OK(strings_->Append(field.str));
        break;
      default:
        return arrow::Status::Invalid("field appended to a ", ColumnTypeName(type_),
                                      " column");
    }
    SetValid(row);
    return arrow::Status::OK();
  }

  static int64_t BitmapBytes(int64_t rows) { return arrow::bit_util::BytesForBits(rows); }

  void SetValid(int64_t row) {
    arrow::bit_util::SetBit(valid_, row);
    ++present_;
  }
  // Null slots hold zeros, as Arrow's builders leave them.
  void ZeroNullSlots() {
    const uint8_t* valid = validity_->data();
    for (int64_t row = 0; row < rows_; ++row) {
      if (arrow::bit_util::GetBit(valid, row)) continue;
      switch (type_) {
        case ColumnType::kTag:
          values_->mutable_data_as<int32_t>()[row] = 0;
          break;
        case ColumnType::kBool:
          break;  // zeroed at allocation
        default:
          values_->mutable_data_as<int64_t>()[row] = 0;
          break;
      }
    }
  }

  const ColumnType type_;
  const bool eight_bytes_;  // kI64, kU64 or kF64
  const int64_t rows_;
  arrow::MemoryPool* const pool_;
  std::shared_ptr<arrow::Buffer> validity_;
  std::shared_ptr<arrow::Buffer> values_;
  uint8_t* valid_ = nullptr;  // validity_'s bytes
  uint8_t* data_ = nullptr;   // values_' bytes
  int64_t present_ = 0;
  TagDictionary dictionary_;                       // kTag
  std::unique_ptr<arrow::StringBuilder> strings_;  // kString
};

// The values of a template's tags on each line, found by name: a line usually has its
// tags where the previous line had them, so a comparison usually replaces a search.
class TemplateTags {
 public:
  explicit TemplateTags(const std::vector<std::string>& names)
      : names_(names), slots_(names.size(), 0), values_(names.size()) {}

  // Valid until the next call.
  std::span<const std::optional<std::string_view>> Of(const lp::ParsedLine& line) {
    for (size_t i = 0; i < names_.size(); ++i) {
      size_t& slot = slots_[i];
      if (slot >= line.tags.size() || line.tags[slot].key != names_[i]) {
        slot = 0;
        while (slot < line.tags.size() && line.tags[slot].key != names_[i]) ++slot;
      }
      values_[i] =
          slot < line.tags.size() ? std::optional(line.tags[slot].value) : std::nullopt;
    }
    return values_;
  }

 private:
  const std::vector<std::string>& names_;
  std::vector<size_t> slots_;
  std::vector<std::optional<std::string_view>> values_;
};

std::string TypeMismatch(const catalog::TableSchema& schema, std::string_view column,
                         ColumnType existing, ColumnType offered) {
  return "column '" + std::string(column) + "' of table '" + schema.table.name +
         "' has type " + std::string(ColumnTypeName(existing)) +
         " in the catalog; the line offers " + std::string(ColumnTypeName(offered));
}

// The request text of a line's tags (",k=v,k=v" without the leading comma) when they
// all lie in the body as written (no value was unescaped into the parse arena): two
// lines with the same such text have the same tags, keys and values.
std::optional<std::string_view> RawTags(const lp::ParsedLine& line,
                                        std::string_view body) {
  if (line.tags.empty()) return std::nullopt;
  const char* begin = line.tags.front().key.data();
  const std::string_view last = line.tags.back().value;
  const char* end = last.data() + last.size();
  const char* lo = body.data();
  const char* hi = body.data() + body.size();
  if (begin < lo || begin >= hi || last.data() < lo || end > hi || end <= begin) {
    return std::nullopt;
  }
  return std::string_view(begin, static_cast<size_t>(end - begin));
}

// Rows of one batch by the text of their tags (RawTags), so that a series seen before
// copies its dictionary indices instead of looking up every tag value again. Open
// addressing in a table sized for the batch, hashed a word at a time; a lookup gives up
// after a few probes and calls the series new (only slower, never wrong).
class SeriesRows {
 public:
  explicit SeriesRows(int64_t rows) {
    size_t capacity = 16;
    while (capacity < static_cast<size_t>(rows) * 2) capacity <<= 1;
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    entries_.reserve(static_cast<size_t>(rows));
  }

  // The earlier row whose tags have this text, or -1 (and then `row` is remembered).
  int64_t FindOrAdd(std::string_view tags, int64_t row) {
    const uint64_t h = HashText(tags);
    const auto check = static_cast<uint32_t>(h >> 32);
    size_t at = static_cast<size_t>(h) & mask_;
    for (int probe = 0; probe < kMaxProbes; ++probe, at = (at + 1) & mask_) {
      Slot& slot = slots_[at];
      if (slot.entry < 0) {
        if (entries_.size() >= static_cast<size_t>(INT32_MAX)) return -1;
        slot = {check, static_cast<int32_t>(entries_.size())};
        entries_.push_back({tags, row});
        return -1;
      }
      if (slot.check == check) {
        const Entry& entry = entries_[static_cast<size_t>(slot.entry)];
        if (SameText(entry.tags, tags)) return entry.row;
      }
    }
    return -1;
  }

 private:
  static constexpr int kMaxProbes = 8;
  // Eight bytes, so the table of a 5,000-row batch stays in the L2 cache.
  struct Slot {
    uint32_t check = 0;  // the hash's high half
    int32_t entry = -1;  // into entries_, or -1 when free
  };
  struct Entry {
    std::string_view tags;
    int64_t row;
  };

  std::vector<Slot> slots_;
  std::vector<Entry> entries_;
  size_t mask_ = 0;
};

// Finds the text of a line for a rejection; scans the body only if a line is rejected.
class LazyLineIndex {
 public:
  explicit LazyLineIndex(std::string_view body) : body_(body) {}
  uint32_t ColumnOf(uint32_t line_number, const char* inside) {
    if (!index_) index_.emplace(body_);
    return index_->ColumnOf(line_number, inside);
  }

 private:
  std::string_view body_;
  std::optional<LineIndex> index_;
};

// The lines of one table in this request, and what became of them.
class TableWriteBuilder {
 public:
  TableWriteBuilder(const catalog::NamespaceRecord& ns, std::string_view name,
                    std::string_view body, LazyLineIndex* index, SchemaCache* cache)
      : ns_(ns), name_(name), body_(body), index_(index), cache_(cache) {}

  void AddLine(const lp::ParsedLine* line) { lines_.push_back(line); }

  // Validates the lines, appending rejections, and adds one PartitionWrite per
  // partition key of the table's template, in key order.
  arrow::Status Build(std::vector<LineRejection>* rejected,
                      std::vector<PartitionWrite>* out, int64_t* accepted) {
    auto schema = cache_->GetOrCreateTable(ns_, std::string(name_));
    if (!schema.ok()) return RejectAll(schema.status(), rejected);
    schema_ = *schema;
    shape_of_.reserve(lines_.size());
    for (size_t i = 0; i < lines_.size(); ++i) {
      const lp::ParsedLine* line = lines_[i];
      // The parser saw that this line has the keys of the one before it; when that one
      // is this table's previous line, it has its shape.
      if (i > 0 && line->same_keys_as_previous && lines_[i - 1] == line - 1) {
        shape_of_.push_back(shape_of_.back());
      } else {
        shape_of_.push_back(shapes_.Of(line));
      }
    }
    ARROW_RETURN_NOT_OK(EnsureColumns());
    ResolveShapes();

    partition::RowPartitioner partitioner(schema_->table.partition_template);
    TemplateTags tags(partitioner.tag_names());
    std::vector<std::vector<uint32_t>> groups;  // indices into lines_
    for (uint32_t i = 0; i < lines_.size(); ++i) {
      const lp::ParsedLine& line = *lines_[i];
      const ResolvedShape& shape = resolved_[shape_of_[i]];
      if (shape.bad_key >= 0) {
        rejected->push_back(
            {line.line_number,
             index_->ColumnOf(line.line_number,
                              KeyAt(line, static_cast<size_t>(shape.bad_key)).data()),
             shape.why});
        continue;
      }
      const uint32_t group = partitioner.Assign(line.timestamp_ns, tags.Of(line));
      if (group == groups.size()) groups.emplace_back();
      groups[group].push_back(i);
      ++*accepted;
    }
    for (auto& [key, key_groups] : partitioner.KeysInOrder()) {
      std::vector<uint32_t>& key_lines = groups[key_groups[0]];
      if (key_groups.size() > 1) {
        // Values that differ only past the key's cut share the partition; lines_ is
        // in line order.
        for (size_t i = 1; i < key_groups.size(); ++i) {
          const auto& more = groups[key_groups[i]];
          key_lines.insert(key_lines.end(), more.begin(), more.end());
        }
        std::sort(key_lines.begin(), key_lines.end());
      }
      ARROW_ASSIGN_OR_RAISE(auto batch, BuildBatch(key_lines));
      PartitionWrite write;
      write.table_id = schema_->table.id;
      write.table_name = schema_->table.name;
      write.partition_key = key;
      write.batch = std::move(batch);
      out->push_back(std::move(write));
    }
    return arrow::Status::OK();
  }

 private:
  // A table that cannot be created (bad name, table limit) rejects every line of it;
  // other failures (the catalog is down) fail the request.
  arrow::Status RejectAll(const arrow::Status& status,
                          std::vector<LineRejection>* rejected) {
    auto kind = ErrorKindOf(status);
    if (kind != ErrorKind::kInvalidInput && kind != ErrorKind::kLimit &&
        kind != ErrorKind::kConflict) {
      return status;
    }
    for (const auto* line : lines_) {
      rejected->push_back({line->line_number, 1, status.message()});
    }
    return arrow::Status::OK();
  }

  // Creates the columns the lines offer that the table lacks. The first line offering a
  // column decides its type (shapes are in order of first appearance); lines disagreeing
  // are rejected by their shape. When the catalog refuses (limit, a concurrent writer's
  // conflicting type), the refusal is kept and the lines needing a missing column are
  // rejected with it.
  arrow::Status EnsureColumns() {
    for (int attempt = 0; attempt < 2; ++attempt) {
      ColumnLookup lookup(*schema_);
      std::vector<catalog::ColumnSpec> wanted;
      std::unordered_map<std::string_view, bool> seen;
      // One new column past the table's room is enough to refuse the lot: offering a
      // line's million distinct keys would only make the refusal cost as much as the
      // keys.
      const size_t limit = static_cast<size_t>(std::max(0, ns_.max_columns_per_table));
      const size_t room =
          limit > schema_->columns.size() ? limit - schema_->columns.size() : 0;
      for (const auto* model : shapes_.models()) {
        const size_t keys = model->tags.size() + model->fields.size();
        for (size_t k = 0; k < keys && wanted.size() <= room; ++k) {
          const std::string_view name = KeyAt(*model, k);
          if (lookup.Find(name) < 0 && seen.emplace(name, true).second) {
            wanted.push_back({std::string(name), TypeAt(*model, k)});
          }
        }
      }
      if (wanted.empty()) return arrow::Status::OK();
      if (wanted.size() > room) {
        column_error_ =
            "table '" + schema_->table.name + "' would have more than " +
            std::to_string(limit) + " columns (" +
            std::to_string(schema_->columns.size()) + " existing + at least " +
            std::to_string(wanted.size()) +
            " new), over its limit of max_columns_per_table=" + std::to_string(limit);
        break;
      }
      auto added = cache_->AddColumns(ns_, schema_->table.id, wanted);
      if (added.ok()) {
        schema_ = *added;
        return arrow::Status::OK();
      }
      auto kind = ErrorKindOf(added.status());
      if (kind != ErrorKind::kConflict && kind != ErrorKind::kLimit &&
          kind != ErrorKind::kInvalidInput) {
        return added.status();
      }
      column_error_ = added.status().message();
      if (kind == ErrorKind::kConflict) {
        // The cache now holds the catalog's current schema: offer only what is missing.
        ARROW_ASSIGN_OR_RAISE(schema_, cache_->GetOrCreateTable(ns_, std::string(name_)));
        continue;
      }
      break;
    }
    return arrow::Status::OK();
  }

  // Checks every shape against the final schema: each key's column must exist and have
  // the key's type.
  void ResolveShapes() {
    ColumnLookup lookup(*schema_);
    resolved_.resize(shapes_.models().size());
    for (size_t s = 0; s < resolved_.size(); ++s) {
      const lp::ParsedLine& model = *shapes_.models()[s];
      ResolvedShape& shape = resolved_[s];
      const size_t keys = model.tags.size() + model.fields.size();
      shape.positions.resize(keys, -1);
      for (size_t k = 0; k < keys; ++k) {
        const std::string_view name = KeyAt(model, k);
        const int pos = lookup.Find(name);
        shape.positions[k] = pos;
        if (pos < 0) {
          shape.bad_key = static_cast<int>(k);
          shape.why = column_error_.empty()
                          ? "column '" + std::string(name) + "' could not be created"
                          : column_error_;
          break;
        }
        const ColumnType existing = schema_->columns[static_cast<size_t>(pos)].type;
        const ColumnType offered = TypeAt(model, k);
        if (existing != offered) {
          shape.bad_key = static_cast<int>(k);
          shape.why = TypeMismatch(*schema_, name, existing, offered);
          break;
        }
      }
    }
  }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> BuildBatch(
      const std::vector<uint32_t>& line_ids) {
    const auto& columns = schema_->columns;
    arrow::MemoryPool* pool = arrow::default_memory_pool();
    const auto rows = static_cast<int64_t>(line_ids.size());
    // Columns by schema position, created for the columns these lines use.
    std::vector<std::unique_ptr<ColumnAccumulator>> accumulators(columns.size());
    std::vector<int> used;  // schema positions that have one
    // Per shape, the column of each key, once a line of this batch has the shape.
    std::vector<std::vector<ColumnAccumulator*>> shape_columns(resolved_.size());
    auto columns_of = [&](uint32_t s) -> arrow::Result<std::vector<ColumnAccumulator*>*> {
      auto& of = shape_columns[s];
      if (!of.empty() || resolved_[s].positions.empty()) return &of;
      for (int pos : resolved_[s].positions) {
        // The shape was accepted, so every key is in the schema.
        if (pos < 0)
          return arrow::Status::Invalid("column missing from the checked schema");
        auto& c = accumulators[static_cast<size_t>(pos)];
        if (c == nullptr) {
          ARROW_ASSIGN_OR_RAISE(
              c, ColumnAccumulator::Make(columns[static_cast<size_t>(pos)].type, rows,
                                         pool));
          used.push_back(pos);
        }
        of.push_back(c.get());
      }
      return &of;
    };
    ARROW_ASSIGN_OR_RAISE(auto time,
                          ColumnAccumulator::Make(ColumnType::kTime, rows, pool));
    SeriesRows series(rows);

    for (int64_t row = 0; row < rows; ++row) {
      const uint32_t id = line_ids[static_cast<size_t>(row)];
      const lp::ParsedLine& line = *lines_[id];
      ARROW_ASSIGN_OR_RAISE(auto* of, columns_of(shape_of_[id]));
      const size_t tags = line.tags.size();
      bool tags_done = false;
      if (auto raw = RawTags(line, body_)) {
        const int64_t earlier = series.FindOrAdd(*raw, row);
        if (earlier >= 0) {
          for (size_t k = 0; k < tags; ++k) (*of)[k]->CopyTag(row, earlier);
          tags_done = true;
        }
      }
      if (!tags_done) {
        for (size_t k = 0; k < tags; ++k) (*of)[k]->SetTag(row, line.tags[k].value);
      }
      for (size_t j = 0; j < line.fields.size(); ++j) {
        ARROW_RETURN_NOT_OK((*of)[tags + j]->SetField(row, line.fields[j]));
      }
      time->SetInt(row, line.timestamp_ns);
    }

    // Tags first, then fields, each in schema (creation) order; time last.
    std::sort(used.begin(), used.end(), [&](int a, int b) {
      bool a_tag = columns[a].type == ColumnType::kTag,
           b_tag = columns[b].type == ColumnType::kTag;
      return a_tag != b_tag ? a_tag : a < b;
    });
    arrow::FieldVector fields;
    arrow::ArrayVector arrays;
    for (int pos : used) {
      ARROW_ASSIGN_OR_RAISE(auto array, accumulators[static_cast<size_t>(pos)]->Finish());
      fields.push_back(arrow::field(columns[pos].name, ArrowTypeFor(columns[pos].type)));
      arrays.push_back(std::move(array));
    }
    ARROW_ASSIGN_OR_RAISE(auto time_array, time->Finish());
    fields.push_back(arrow::field(std::string(kTimeColumnName),
                                  ArrowTypeFor(ColumnType::kTime), false));
    arrays.push_back(std::move(time_array));
    return arrow::RecordBatch::Make(arrow::schema(std::move(fields)), rows,
                                    std::move(arrays));
  }

  const catalog::NamespaceRecord& ns_;
  std::string_view name_;
  std::string_view body_;
  LazyLineIndex* index_;
  SchemaCache* cache_;
  std::vector<const lp::ParsedLine*> lines_;  // in line order
  ShapeIndex shapes_;
  std::vector<uint32_t> shape_of_;       // the shape of each of lines_
  std::vector<ResolvedShape> resolved_;  // by shape, against the final schema_
  std::shared_ptr<const catalog::TableSchema> schema_;
  std::string column_error_;  // why columns could not be created, if they could not
};

}  // namespace

arrow::Result<BuiltWrite> BuildWrite(const catalog::NamespaceRecord& ns,
                                     std::string_view body, const lp::ParsedBody& parsed,
                                     SchemaCache* cache) {
  LazyLineIndex index(body);
  BuiltWrite built;
  built.op.namespace_id = ns.id;
  built.op.namespace_name = ns.name;
  for (const auto& error : parsed.errors()) {
    built.rejected.push_back({error.line, error.column, error.message});
  }

  // Tables in order of first appearance, so the op is deterministic for a given body.
  std::vector<std::unique_ptr<TableWriteBuilder>> tables;
  std::unordered_map<std::string_view, TableWriteBuilder*> by_name;
  TableWriteBuilder* previous = nullptr;
  std::string_view previous_name;
  for (const auto& line : parsed.lines()) {
    if (previous == nullptr || !SameText(line.measurement, previous_name)) {
      auto [it, inserted] = by_name.emplace(line.measurement, nullptr);
      if (inserted) {
        tables.push_back(std::make_unique<TableWriteBuilder>(ns, line.measurement, body,
                                                             &index, cache));
        it->second = tables.back().get();
      }
      previous = it->second;
      previous_name = line.measurement;
    }
    previous->AddLine(&line);
  }
  for (auto& table : tables) {
    ARROW_RETURN_NOT_OK(
        table->Build(&built.rejected, &built.op.writes, &built.lines_accepted));
  }
  std::stable_sort(built.rejected.begin(), built.rejected.end(),
                   [](const LineRejection& a, const LineRejection& b) {
                     return a.line_number < b.line_number;
                   });
  return built;
}

}  // namespace ingester
