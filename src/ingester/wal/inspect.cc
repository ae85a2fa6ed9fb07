#include "ingester/wal/inspect.h"

#include <algorithm>
#include <cstdio>

#include "ingester/common/error.h"
#include "ingester/common/json.h"
#include "ingester/wal/write_op_codec.h"

namespace ingester::wal {

namespace {

arrow::Status InspectSegment(FileSystem& fs, SegmentInspection* s) {
  ARROW_ASSIGN_OR_RAISE(s->size, fs.FileSize(s->file));
  auto opened = SegmentReader::Open(&fs, s->file, s->id);
  if (!opened.ok()) {
    if (ErrorKindOf(opened.status()) != ErrorKind::kDataLoss) return opened.status();
    s->header_error = opened.status().message();
    return arrow::Status::OK();
  }
  auto& reader = *opened;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto entry, reader->Next());
    if (!entry.has_value()) break;
    auto op = DecodeWriteOpSummary(
        reinterpret_cast<const uint8_t*>(entry->payload.data()), entry->payload.size());
    if (!op.ok()) {
      s->damage = SegmentDamage::kCorrupt;
      s->damage_offset = entry->offset;
      s->damage_reason = "entry does not decode: " + op.status().message();
      return arrow::Status::OK();
    }
    s->entries += 1;
    s->rows += op->RowCount();
    for (const auto& w : op->writes) s->sequence_numbers.Add(w.sequence_number);
  }
  s->damage = reader->damage();
  s->damage_offset = reader->damage_offset();
  s->damage_reason = reader->damage_reason();
  return arrow::Status::OK();
}

std::string FileName(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string OptionalNumber(std::optional<SequenceNumber> n) {
  return n.has_value() ? std::to_string(*n) : "null";
}

}  // namespace

std::string SegmentInspection::Status() const {
  if (!header_error.empty()) return "bad header";
  switch (damage) {
    case SegmentDamage::kNone:
      return "ok";
    case SegmentDamage::kTornTail:
      return "torn tail at offset " + std::to_string(damage_offset);
    case SegmentDamage::kCorrupt:
      return "corrupt at offset " + std::to_string(damage_offset);
  }
  return "unknown";
}

bool WalInspection::ok() const {
  return std::all_of(segments.begin(), segments.end(), [](const SegmentInspection& s) {
    return s.header_error.empty() && s.damage == SegmentDamage::kNone;
  });
}

arrow::Result<WalInspection> InspectWal(FileSystem& fs, const std::string& dir) {
  ARROW_ASSIGN_OR_RAISE(auto names, fs.ListDir(dir));
  std::vector<SegmentId> ids;
  for (const auto& name : names) {
    if (auto id = ParseSegmentFileName(name)) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  WalInspection out;
  out.dir = dir;
  for (SegmentId id : ids) {
    SegmentInspection s;
    s.id = id;
    s.file = JoinPath(dir, SegmentFileName(id));
    ARROW_RETURN_NOT_OK(InspectSegment(fs, &s));
    out.entries += s.entries;
    out.rows += s.rows;
    out.bytes += s.size;
    out.segments.push_back(std::move(s));
  }
  return out;
}

arrow::Result<WalInspection> InspectWal(const std::string& dir) {
  return InspectWal(*PosixFileSystem(), dir);
}

std::string FormatInspectionText(const WalInspection& inspection) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back(
      {"segment", "file", "bytes", "entries", "rows", "sequence numbers", "status"});
  for (const auto& s : inspection.segments) {
    std::string seqs = s.sequence_numbers.empty() ? "-" : s.sequence_numbers.ToString();
    if (seqs.size() > 40) {
      seqs = std::to_string(*s.sequence_numbers.min()) + ".." +
             std::to_string(*s.sequence_numbers.max()) + " (" +
             std::to_string(s.sequence_numbers.ranges().size()) + " ranges)";
    }
    std::string status = s.Status();
    if (!s.header_error.empty()) status += ": " + s.header_error;
    if (s.damage != SegmentDamage::kNone) status += " (" + s.damage_reason + ")";
    rows.push_back({std::to_string(s.id), FileName(s.file), std::to_string(s.size),
                    std::to_string(s.entries), std::to_string(s.rows), seqs, status});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c)
      widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out = "WAL directory: " + inspection.dir + "\n";
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      const bool numeric = c == 0 || (c >= 2 && c <= 4);
      std::string pad(widths[c] - row[c].size(), ' ');
      if (c > 0) line += "  ";
      // The last column is not padded on the right.
      line += numeric ? pad + row[c] : (c + 1 == row.size() ? row[c] : row[c] + pad);
    }
    out += line + "\n";
  }
  out += "total: " + std::to_string(inspection.segments.size()) + " segment(s), " +
         std::to_string(inspection.entries) + " entries, " +
         std::to_string(inspection.rows) + " rows, " + std::to_string(inspection.bytes) +
         " bytes; " + (inspection.ok() ? "checksums ok" : "DAMAGE FOUND") + "\n";
  return out;
}

std::string FormatInspectionJson(const WalInspection& inspection) {
  std::string out = "{\"dir\": " + json::Quote(inspection.dir) + ", \"segments\": [";
  for (size_t i = 0; i < inspection.segments.size(); ++i) {
    const auto& s = inspection.segments[i];
    if (i > 0) out += ", ";
    out += "{\"id\": " + std::to_string(s.id);
    out += ", \"file\": " + json::Quote(s.file);
    out += ", \"bytes\": " + std::to_string(s.size);
    out += ", \"entries\": " + std::to_string(s.entries);
    out += ", \"rows\": " + std::to_string(s.rows);
    out += ", \"min_sequence_number\": " + OptionalNumber(s.sequence_numbers.min());
    out += ", \"max_sequence_number\": " + OptionalNumber(s.sequence_numbers.max());
    out += ", \"sequence_numbers\": " + json::Quote(s.sequence_numbers.ToString());
    out += ", \"status\": " + json::Quote(s.Status());
    const bool damaged = s.damage != SegmentDamage::kNone;
    out += ", \"damage\": " + (s.header_error.empty()
                                   ? json::Quote(SegmentDamageName(s.damage))
                                   : json::Quote("bad header"));
    out += ", \"damage_offset\": " +
           (damaged ? std::to_string(s.damage_offset) : std::string("null"));
    out += ", \"damage_reason\": " +
           json::Quote(s.header_error.empty() ? s.damage_reason : s.header_error);
    out += "}";
  }
  out += "], \"entries\": " + std::to_string(inspection.entries);
  out += ", \"rows\": " + std::to_string(inspection.rows);
  out += ", \"bytes\": " + std::to_string(inspection.bytes);
  out += std::string(", \"ok\": ") + (inspection.ok() ? "true" : "false") + "}\n";
  return out;
}

}  // namespace ingester::wal
