#include "ingester/wal/wal.h"

#include <arrow/util/compression.h>

#include <algorithm>
#include <limits>

#include "ingester/common/crc32c.h"
#include "ingester/common/error.h"
#include "ingester/common/logging.h"
#include "ingester/wal/payload_codec.h"
#include "ingester/wal/write_op_codec.h"

namespace ingester::wal {

// One pending append. Lives on the appending thread's stack until `done`.
struct Wal::Writer {
  std::string entry;  // kEntryHeaderSize bytes of framing (filled by the leader), payload
  uint32_t payload_crc = 0;
  bool sync = true;
  const WriteOp* op = nullptr;
  // Set by the thread that completes the writer, under mu_.
  bool done = false;
  arrow::Status status;
  // Signalled (under mu_) when the writer is done or should lead the next flush.
  CondVar cv;
};

arrow::Status WalOptions::Validate() const {
  if (dir.empty()) return arrow::Status::Invalid("WAL directory not set");
  if (max_group_bytes == 0) return arrow::Status::Invalid("max_group_bytes must be > 0");
  if (compression == PayloadCompression::kLz4 &&
      !arrow::util::Codec::IsAvailable(arrow::Compression::LZ4)) {
    return arrow::Status::NotImplemented("this Arrow build has no lz4 codec for the WAL");
  }
  return ValidateCompressionLevel(compression, compression_level);
}

arrow::Result<std::unique_ptr<Wal>> Wal::Make(WalOptions options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  if (options.fs == nullptr) options.fs = PosixFileSystem();
  FileSystem* fs = options.fs.get();
  const std::string dir = options.dir;
  ARROW_RETURN_NOT_OK(fs->CreateDirIfMissing(dir));
  ARROW_ASSIGN_OR_RAISE(auto names, fs->ListDir(dir));
  std::vector<SegmentId> existing;
  bool removed = false;
  for (const auto& name : names) {
    if (auto id = ParseSegmentFileName(name)) {
      existing.push_back(*id);
    } else if (name.ends_with(kTempSuffix) &&
               ParseSegmentFileName(
                   std::string_view(name).substr(0, name.size() - kTempSuffix.size()))) {
      // A rotation (or open) that crashed before publishing; it never held an entry.
      spdlog::warn("WAL: removing unpublished segment {}", JoinPath(dir, name));
      ARROW_RETURN_NOT_OK(fs->Delete(JoinPath(dir, name)));
      removed = true;
    }
  }
  std::sort(existing.begin(), existing.end());
  ARROW_ASSIGN_OR_RAISE(SegmentLedger ledger, SegmentLedger::Load(*fs, dir));
  // A deletion recorded just before a crash, the file still there: it held only
  // persisted writes.
  std::erase_if(existing, [&](SegmentId id) {
    if (!ledger.IsDeleted(id)) return false;
    spdlog::info("WAL: removing segment {}, deleted before the last stop",
                 JoinPath(dir, SegmentFileName(id)));
    removed = true;
    return true;
  });
  for (SegmentId id : ledger.Missing(existing)) {
    if (!options.allow_missing_segments) {
      return DataLoss(MissingSegmentsMessage(dir, ledger.Missing(existing)));
    }
    spdlog::warn("WAL: segment {} is missing; accepted (--wal-allow-missing-segments)",
                 JoinPath(dir, SegmentFileName(id)));
    ledger.NoteDeleted(id);
  }
  for (const auto& name : names) {
    auto id = ParseSegmentFileName(name);
    if (id && ledger.IsDeleted(*id)) ARROW_RETURN_NOT_OK(fs->Delete(JoinPath(dir, name)));
  }
  if (removed) ARROW_RETURN_NOT_OK(fs->SyncDir(dir));
  const SegmentId first =
      std::max(existing.empty() ? SegmentId{1} : existing.back() + 1, ledger.next());
  ARROW_ASSIGN_OR_RAISE(auto writer, SegmentWriter::Create(fs, dir, first));
  ARROW_RETURN_NOT_OK(writer->Publish());
  ledger.NoteCreated(first);
  ARROW_RETURN_NOT_OK(ledger.Save(*fs, dir));

  std::unique_ptr<Wal> wal(new Wal(std::move(options)));
  {
    MutexLock lock(&wal->mu_);
    wal->closed_ = existing;
    wal->next_segment_id_ = first + 1;
    wal->current_ = std::make_unique<OpenSegment>();
    wal->current_->writer = std::move(writer);
  }
  {
    MutexLock lock(&wal->ledger_mu_);
    wal->ledger_ = std::move(ledger);
  }
  spdlog::info("WAL opened in {}: {} existing segment(s), writing segment {}", dir,
               existing.size(), first);
  return wal;
}

Wal::Wal(WalOptions options) : options_(std::move(options)), fs_(options_.fs.get()) {}

Wal::~Wal() = default;

arrow::Status Wal::Append(const WriteOp& op, bool sync) {
  Writer w;
  w.sync = sync;
  w.op = &op;
  EncodeOptions encode;
  encode.compression = options_.compression;
  encode.level = options_.compression_level;
  encode.headroom = kEntryHeaderSize;
  ARROW_ASSIGN_OR_RAISE(w.entry, EncodeWriteOp(op, encode));
  const size_t payload_size = w.entry.size() - kEntryHeaderSize;
  if (payload_size > std::numeric_limits<uint32_t>::max()) {
    return LimitExceeded("write op of " + std::to_string(payload_size) +
                         " encoded bytes exceeds the WAL entry limit");
  }
  w.payload_crc = crc32c::Value(w.entry.data() + kEntryHeaderSize, payload_size);

  MutexLock lock(&mu_);
  if (!sticky_.ok()) return sticky_;
  if (closed_for_appends_) return arrow::Status::Invalid("the WAL is closed");
  queue_.push_back(&w);
  if (queued_waiters_ > 0) cv_.NotifyAll();
  while (!w.done) {
    if (!flushing_) {
      // Lead: flush everything queued, including our own entry.
      flushing_ = true;
      (void)FlushQueue(/*force_sync=*/false);
      ReleaseFlushToken();
    } else {
      w.cv.Wait(&mu_, [&]() REQUIRES(mu_) { return w.done || !flushing_; });
    }
  }
  return w.status;
}

arrow::Status Wal::FlushQueue(bool force_sync) {
  std::vector<Writer*> batch;
  if (force_sync) {
    batch.swap(queue_);
  } else {
    // The oldest appends, up to the byte cap (at least one).
    size_t take = 0, taken_bytes = 0;
    while (take < queue_.size() &&
           (take == 0 ||
            taken_bytes + queue_[take]->entry.size() <= options_.max_group_bytes)) {
      taken_bytes += queue_[take]->entry.size();
      ++take;
    }
    batch.assign(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(take));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(take));
  }
  // Completes the writers of `batch` whose sync flag is `synced_ones` and drops them
  // from it: a completed writer may return and free itself at once.
  auto complete = [&](bool synced_ones, const arrow::Status& status) REQUIRES(mu_) {
    std::erase_if(batch, [&](Writer* w) REQUIRES(mu_) {
      if (w->sync != synced_ones) return false;
      w->status = status;
      w->done = true;
      if (status.ok()) ++stats_.appends;
      // Under mu_: the writer cannot return (and free itself) before this completes.
      w->cv.NotifyOne();
      return true;
    });
  };
  auto fail_all = [&](const arrow::Status& status) REQUIRES(mu_) {
    complete(true, status);
    complete(false, status);
    return status;
  };
  if (!sticky_.ok()) return fail_all(sticky_);
  if (batch.empty() && !force_sync) return arrow::Status::OK();

  OpenSegment* segment = current_.get();
  SegmentWriter* writer = segment->writer.get();
  bool need_sync = force_sync;
  bool any_no_sync = false;
  size_t bytes = 0;
  for (const Writer* w : batch) {
    need_sync |= w->sync;
    any_no_sync |= !w->sync;
    bytes += w->entry.size();
  }

  // The token keeps everyone else off the file; the lock is not needed for the I/O.
  mu_.Unlock();
  arrow::Status status;
  if (!batch.empty()) {
    for (Writer* w : batch) FrameEntry(writer->id(), w->payload_crc, &w->entry);
    if (batch.size() == 1) {
      status = writer->Append(batch[0]->entry);
    } else {
      std::string joined;
      joined.reserve(bytes);
      for (const Writer* w : batch) joined.append(w->entry);
      status = writer->Append(joined);
    }
  }
  mu_.Lock();
  if (!status.ok()) return fail_all(MakeSticky(status));
  if (!batch.empty()) ++stats_.flushes;
  stats_.bytes += static_cast<int64_t>(bytes);
  for (const Writer* w : batch) {
    for (const auto& pw : w->op->writes)
      segment->sequence_numbers.Add(pw.sequence_number);
    segment->entries += 1;
    segment->rows += w->op->RowCount();
  }
  // No-sync writers are done once the OS has their bytes.
  if (any_no_sync) complete(false, arrow::Status::OK());
  if (need_sync && writer->has_unsynced_data()) {
    mu_.Unlock();
    {
      ScopedHistogramTimer timer(options_.fsync_seconds);
      status = writer->Sync();
    }
    mu_.Lock();
    ++stats_.syncs;
    if (!status.ok()) return fail_all(MakeSticky(status));
  }
  complete(true, arrow::Status::OK());
  return arrow::Status::OK();
}

void Wal::AcquireFlushToken() {
  ++token_waiters_;
  cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return !flushing_; });
  --token_waiters_;
  flushing_ = true;
}

void Wal::ReleaseFlushToken() {
  flushing_ = false;
  if (token_waiters_ > 0) cv_.NotifyAll();
  // The oldest queued append leads the next flush; the others keep sleeping.
  if (!queue_.empty()) queue_.front()->cv.NotifyOne();
}

arrow::Status Wal::MakeSticky(const arrow::Status& cause) {
  if (sticky_.ok()) {
    sticky_ = arrow::Status(cause.code(),
                            "the WAL refuses writes after an earlier write or sync "
                            "failure (restart to recover): " +
                                cause.message(),
                            cause.detail());
    spdlog::error("WAL in {} failed, refusing further writes: {}", options_.dir,
                  cause.ToString());
  }
  return sticky_;
}

arrow::Result<ClosedSegment> Wal::Rotate() {
  MutexLock rotate_lock(&rotate_mu_);
  SegmentId id;
  {
    MutexLock lock(&mu_);
    if (!sticky_.ok()) return sticky_;
    if (closed_for_appends_) return arrow::Status::Invalid("the WAL is closed");
    id = next_segment_id_++;
  }
  // Prepared under its temporary name while appends go on.
  auto created = SegmentWriter::Create(fs_, options_.dir, id);
  if (!created.ok()) {
    // The id was never published, and the WAL goes on in the current segment. Noted as
    // deleted: the next rotation's id would otherwise make the ledger call it handed out,
    // and the next start would take the gap for a lost segment. Saved with the ledger's
    // next change (until then the ledger on disk does not count the id as handed out).
    MutexLock lock(&ledger_mu_);
    ledger_.NoteDeleted(id);
    return created.status();
  }
  std::unique_ptr<SegmentWriter> next = std::move(*created);

  ClosedSegment closed;
  arrow::Status status;
  {
    MutexLock lock(&mu_);
    AcquireFlushToken();
    // Writes what is queued and syncs the old segment (earlier no-sync entries too):
    // a segment that is not the last must never end in a torn entry.
    status = closed_for_appends_ ? arrow::Status::Invalid("the WAL is closed")
                                 : FlushQueue(/*force_sync=*/true);
    if (status.ok()) {
      SegmentWriter* old = current_->writer.get();
      mu_.Unlock();
      status = old->Close();
      if (status.ok()) status = next->Publish();
      mu_.Lock();
      if (!status.ok()) status = MakeSticky(status);
    }
    if (status.ok()) {
      closed.id = current_->writer->id();
      closed.sequence_numbers = std::move(current_->sequence_numbers);
      closed.entries = current_->entries;
      closed.rows = current_->rows;
      closed.bytes = current_->writer->size();
      closed_.push_back(closed.id);
      current_ = std::make_unique<OpenSegment>();
      current_->writer = std::move(next);
      ++stats_.rotations;
    }
    ReleaseFlushToken();
  }
  if (!status.ok()) {
    if (next != nullptr) {
      (void)next->Close();
      (void)fs_->Delete(next->path());
    }
    return status;
  }
  {
    // After the publish: a crash before this leaves a live segment above `next`, which
    // the next open accepts. A failure here only weakens the missing-segment check.
    MutexLock lock(&ledger_mu_);
    ledger_.NoteCreated(id);
    if (arrow::Status saved = ledger_.Save(*fs_, options_.dir); !saved.ok()) {
      spdlog::error("WAL: cannot record segment {} in the ledger: {}", id,
                    saved.ToString());
    }
  }
  spdlog::debug("WAL rotated segment {} ({} entries, {} rows, {} bytes)", closed.id,
                closed.entries, closed.rows, closed.bytes);
  return closed;
}

arrow::Status Wal::Delete(SegmentId id) {
  {
    MutexLock lock(&mu_);
    if (current_ != nullptr && current_->writer->id() == id) {
      return arrow::Status::Invalid("cannot delete WAL segment ", id,
                                    ": it is the segment being written");
    }
    auto it = std::find(closed_.begin(), closed_.end(), id);
    if (it == closed_.end()) {
      return NotFound("no closed WAL segment " + std::to_string(id));
    }
    closed_.erase(it);
  }
  const std::string path = JoinPath(options_.dir, SegmentFileName(id));
  arrow::Status status;
  {
    // Recorded before the file goes, so that no restart takes the gap for a loss.
    MutexLock lock(&ledger_mu_);
    ledger_.NoteDeleted(id);
    status = ledger_.Save(*fs_, options_.dir);
  }
  if (status.ok()) status = fs_->Delete(path);
  if (status.ok()) status = fs_->SyncDir(options_.dir);
  if (!status.ok()) {
    MutexLock lock(&mu_);
    closed_.insert(std::lower_bound(closed_.begin(), closed_.end(), id), id);
  }
  return status;
}

std::vector<SegmentId> Wal::ClosedSegmentIds() const {
  MutexLock lock(&mu_);
  return closed_;
}

SegmentId Wal::current_segment_id() const {
  MutexLock lock(&mu_);
  return current_->writer->id();
}

arrow::Status Wal::sticky_error() const {
  MutexLock lock(&mu_);
  return sticky_;
}

WalStats Wal::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

arrow::Status Wal::Close() {
  MutexLock lock(&mu_);
  if (closed_for_appends_) return arrow::Status::OK();
  closed_for_appends_ = true;
  AcquireFlushToken();
  arrow::Status status = FlushQueue(/*force_sync=*/true);
  if (status.ok()) {
    SegmentWriter* writer = current_->writer.get();
    mu_.Unlock();
    status = writer->Close();
    mu_.Lock();
  }
  ReleaseFlushToken();
  return status;
}

void Wal::TEST_WaitForQueued(size_t n) {
  MutexLock lock(&mu_);
  ++queued_waiters_;
  cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return queue_.size() >= n; });
  --queued_waiters_;
}

}  // namespace ingester::wal
