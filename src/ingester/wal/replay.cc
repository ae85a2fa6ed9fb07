#include "ingester/wal/replay.h"

#include <arrow/util/io_util.h>

#include <algorithm>
#include <cerrno>

#include "ingester/catalog/names.h"
#include "ingester/common/error.h"
#include "ingester/common/logging.h"
#include "ingester/dml/write_validation.h"
#include "ingester/wal/quarantine.h"
#include "ingester/wal/segment_ledger.h"
#include "ingester/wal/segment_reader.h"
#include "ingester/wal/write_op_codec.h"

namespace ingester::wal {

namespace {

using SteadyClock = std::chrono::steady_clock;

std::string At(const std::string& file, uint64_t offset) {
  return file + " at byte offset " + std::to_string(offset);
}

class Progress {
 public:
  Progress(const ReplayOptions& options, size_t segments)
      : options_(options), segments_(segments), last_(SteadyClock::now()) {}

  void Entry(size_t index, const std::string& file, const ReplayStats& stats) {
    bool by_count = options_.progress_every_entries > 0 &&
                    stats.entries % options_.progress_every_entries == 0;
    auto now = SteadyClock::now();
    if (!by_count && now - last_ < options_.progress_interval) return;
    last_ = now;
    spdlog::info("WAL replay: segment {}/{} ({}), {} entries, {} rows so far", index + 1,
                 segments_, file, stats.entries, stats.rows);
  }

 private:
  const ReplayOptions& options_;
  const size_t segments_;
  SteadyClock::time_point last_;
};

// Sets aside an entry whose write failed validation (quarantine.h).
arrow::Result<QuarantinedEntry> Quarantine(FileSystem& fs, const std::string& dir,
                                           SegmentId id, const std::string& file,
                                           const SegmentReader::Entry& entry,
                                           const WriteOp& op, const std::string& why) {
  QuarantinedEntry kept;
  kept.file = file;
  kept.offset = entry.offset;
  kept.rows = op.RowCount();
  kept.reason = "WAL entry in " + At(file, entry.offset) + " (namespace " +
                catalog::QuoteForMessage(op.namespace_name) + ", " +
                std::to_string(kept.rows) + (kept.rows == 1 ? " row" : " rows") +
                ") fails validation: " + why;
  auto path = QuarantineEntry(fs, dir, id, entry.offset, entry.payload, kept.reason);
  if (!path.ok()) {
    return path.status().WithMessage("cannot quarantine the invalid WAL entry in ",
                                     At(file, entry.offset), ": ",
                                     path.status().message());
  }
  kept.path = *path;
  spdlog::error("WAL replay: {}; not applied, its payload is kept in {}", kept.reason,
                kept.path);
  return kept;
}

}  // namespace

std::vector<SegmentId> ReplayStats::segment_ids() const {
  std::vector<SegmentId> ids;
  for (const auto& s : segments) ids.push_back(s.id);
  return ids;
}

arrow::Result<std::vector<SegmentId>> ListSegments(FileSystem& fs,
                                                   const std::string& dir) {
  auto names = fs.ListDir(dir);
  if (!names.ok()) {
    if (arrow::internal::ErrnoFromStatus(names.status()) == ENOENT) {
      return std::vector<SegmentId>{};
    }
    return names.status();
  }
  std::vector<SegmentId> ids;
  for (const auto& name : *names) {
    if (auto id = ParseSegmentFileName(name)) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

arrow::Result<ReplayStats> ReplayWal(FileSystem& fs, const std::string& dir,
                                     DmlSink& sink, const ReplayOptions& options) {
  const auto start = SteadyClock::now();
  ARROW_ASSIGN_OR_RAISE(auto ids, ListSegments(fs, dir));
  ARROW_ASSIGN_OR_RAISE(SegmentLedger ledger, SegmentLedger::Load(fs, dir));
  // Deleted just before a stop, the file still there: only persisted writes (Wal::Make
  // removes it).
  std::erase_if(ids, [&](SegmentId id) { return ledger.IsDeleted(id); });
  if (auto missing = ledger.Missing(ids); !missing.empty()) {
    if (!options.allow_missing_segments) {
      return DataLoss(MissingSegmentsMessage(dir, missing));
    }
    spdlog::warn("WAL replay: {}; going on without them (--wal-allow-missing-segments)",
                 MissingSegmentsMessage(dir, missing));
  }
  spdlog::info("WAL replay: {} segment(s) in {}", ids.size(), dir);
  ReplayStats stats;
  Progress progress(options, ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const bool last = i + 1 == ids.size();
    const std::string file = JoinPath(dir, SegmentFileName(ids[i]));
    ARROW_ASSIGN_OR_RAISE(auto reader, SegmentReader::Open(&fs, file, ids[i]));
    ClosedSegment segment;
    segment.id = ids[i];
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto entry, reader->Next());
      if (!entry.has_value()) break;
      auto op = DecodeWriteOp(reinterpret_cast<const uint8_t*>(entry->payload.data()),
                              entry->payload.size());
      if (!op.ok()) {
        // The checksum matched, so this is not a torn write: refuse it.
        return DataLoss("WAL entry in " + At(file, entry->offset) +
                        " does not decode: " + op.status().message());
      }
      for (const auto& w : op->writes) {
        if (!stats.max_sequence_number ||
            w.sequence_number > *stats.max_sequence_number) {
          stats.max_sequence_number = w.sequence_number;
        }
      }
      if (arrow::Status valid = ValidateWriteOp(*op); !valid.ok()) {
        ARROW_ASSIGN_OR_RAISE(
            auto kept, Quarantine(fs, dir, ids[i], file, *entry, *op, valid.message()));
        stats.quarantined.push_back(std::move(kept));
        continue;
      }
      std::vector<SequenceNumber> not_applied;
      arrow::Status applied = sink.Apply(*op, {.not_applied = &not_applied});
      if (!applied.ok()) {
        return applied.WithMessage("replaying WAL entry in ", At(file, entry->offset),
                                   ": ", applied.message());
      }
      // Writes the sink will never hold (no rows) are never persisted: the segment does
      // not count them, so it is deleted once the rest of it is persisted.
      for (const auto& w : op->writes) {
        if (std::find(not_applied.begin(), not_applied.end(), w.sequence_number) ==
            not_applied.end()) {
          segment.sequence_numbers.Add(w.sequence_number);
        }
      }
      const int64_t rows = op->RowCount();
      segment.entries += 1;
      segment.rows += rows;
      stats.entries += 1;
      stats.rows += rows;
      progress.Entry(i, file, stats);
    }

    switch (reader->damage()) {
      case SegmentDamage::kNone:
        break;
      case SegmentDamage::kTornTail:
        if (last && options.mode == RecoveryMode::kTolerateTornTail) {
          TruncatedTail tail;
          tail.file = file;
          tail.offset = reader->damage_offset();
          tail.dropped_bytes = reader->file_size() - reader->damage_offset();
          tail.reason = reader->damage_reason();
          spdlog::warn(
              "WAL replay: torn tail in the last segment {} at byte offset {} ({}); "
              "truncating {} byte(s) of a write that never completed",
              file, tail.offset, tail.reason, tail.dropped_bytes);
          ARROW_RETURN_NOT_OK(fs.Truncate(file, tail.offset));
          stats.truncated = std::move(tail);
          break;
        }
        return DataLoss(
            "WAL segment " + At(file, reader->damage_offset()) + " is damaged (" +
            reader->damage_reason() + ")" +
            (last ? std::string("; refused by the absolute-consistency recovery mode")
                  : "; only the last segment may end in a torn write, so this is "
                    "corruption"));
      case SegmentDamage::kCorrupt:
        return DataLoss("WAL segment " + At(file, reader->damage_offset()) +
                        " is corrupt (" + reader->damage_reason() + ")");
    }
    segment.bytes = reader->damage() == SegmentDamage::kNone ? reader->file_size()
                                                             : reader->damage_offset();
    stats.bytes += segment.bytes;
    stats.segments.push_back(std::move(segment));
  }
  stats.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (!stats.quarantined.empty()) {
    spdlog::error("WAL replay: {} invalid entr{} quarantined in {}",
                  stats.quarantined.size(), stats.quarantined.size() == 1 ? "y" : "ies",
                  JoinPath(dir, kQuarantineDirName));
  }
  spdlog::info(
      "WAL replay done: {} segment(s), {} entries, {} rows, {} bytes in {:.3f} s "
      "({:.0f} rows/s); highest sequence number {}",
      stats.segments.size(), stats.entries, stats.rows, stats.bytes, stats.seconds,
      stats.seconds > 0 ? static_cast<double>(stats.rows) / stats.seconds : 0.0,
      stats.max_sequence_number ? std::to_string(*stats.max_sequence_number)
                                : std::string("none"));
  return stats;
}

}  // namespace ingester::wal
