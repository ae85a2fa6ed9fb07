#include "ingester/wal/segment_ledger.h"

#include <arrow/util/io_util.h>

#include <cerrno>
#include <charconv>
#include <sstream>

#include "ingester/wal/format.h"

namespace ingester::wal {

namespace {

constexpr std::string_view kMagic = "ingester-wal-ledger 1";

bool ParseId(std::string_view text, SegmentId* out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

arrow::Result<SegmentLedger> SegmentLedger::Load(FileSystem& fs, const std::string& dir) {
  SegmentLedger ledger;
  const std::string path = JoinPath(dir, kLedgerFileName);
  auto content = ReadWholeFile(fs, path);
  if (!content.ok()) {
    if (arrow::internal::ErrnoFromStatus(content.status()) == ENOENT) return ledger;
    return content.status();
  }
  auto corrupt = [&](const std::string& why) {
    return arrow::Status::IOError("WAL ledger ", path, " is corrupt: ", why);
  };
  std::istringstream lines(*content);
  std::string line;
  if (!std::getline(lines, line) || line != kMagic) return corrupt("no header");
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    std::string value;
    std::vector<SegmentId> ids;
    while (words >> value) {
      SegmentId id = 0;
      if (!ParseId(value, &id)) return corrupt("bad id '" + value + "'");
      ids.push_back(id);
    }
    if (key == "next" && ids.size() == 1) {
      ledger.next_ = ids[0];
    } else if (key == "floor" && ids.size() == 1) {
      ledger.floor_ = ids[0];
    } else if (key == "deleted") {
      ledger.deleted_.insert(ids.begin(), ids.end());
    } else {
      return corrupt("unexpected line '" + line + "'");
    }
  }
  ledger.known_ = true;
  return ledger;
}

std::vector<SegmentId> SegmentLedger::Missing(
    const std::vector<SegmentId>& on_disk) const {
  std::vector<SegmentId> missing;
  if (!known_) return missing;
  const std::set<SegmentId> present(on_disk.begin(), on_disk.end());
  for (SegmentId id = floor_ + 1; id < next_; ++id) {
    if (!IsDeleted(id) && present.count(id) == 0) missing.push_back(id);
  }
  return missing;
}

void SegmentLedger::NoteCreated(SegmentId id) {
  known_ = true;
  if (id >= next_) next_ = id + 1;
}

void SegmentLedger::NoteDeleted(SegmentId id) {
  known_ = true;
  if (id > floor_) deleted_.insert(id);
  // Keep the list short: ids deleted in a row from the floor up become the floor.
  while (!deleted_.empty() && *deleted_.begin() == floor_ + 1) {
    floor_ = *deleted_.begin();
    deleted_.erase(deleted_.begin());
  }
}

std::string SegmentLedger::ToString() const {
  std::string out = std::string(kMagic) + "\nnext " + std::to_string(next_) + "\nfloor " +
                    std::to_string(floor_) + "\ndeleted";
  for (SegmentId id : deleted_) out += " " + std::to_string(id);
  return out + "\n";
}

arrow::Status SegmentLedger::Save(FileSystem& fs, const std::string& dir) const {
  ARROW_RETURN_NOT_OK(
      WriteFileAtomically(fs, JoinPath(dir, kLedgerFileName), ToString()));
  return fs.SyncDir(dir);
}

std::string MissingSegmentsMessage(const std::string& dir,
                                   const std::vector<SegmentId>& missing) {
  std::string ids;
  for (size_t i = 0; i < missing.size() && i < 20; ++i) {
    ids += (i == 0 ? "" : ", ") + SegmentFileName(missing[i]);
  }
  if (missing.size() > 20) ids += ", ... (" + std::to_string(missing.size()) + " in all)";
  return "WAL segment(s) " + ids + " of " + dir +
         " are missing, but the ingester never deleted them: the acknowledged writes "
         "they "
         "held that were not persisted yet are lost. Restore the files, or start with "
         "--wal-allow-missing-segments to accept the loss and go on";
}

}  // namespace ingester::wal
