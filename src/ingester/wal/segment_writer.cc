#include "ingester/wal/segment_writer.h"

#include "ingester/common/crc32c.h"

namespace ingester::wal {

arrow::Result<std::unique_ptr<SegmentWriter>> SegmentWriter::Create(FileSystem* fs,
                                                                    std::string dir,
                                                                    SegmentId id) {
  std::string path = JoinPath(dir, SegmentFileName(id)) + std::string(kTempSuffix);
  ARROW_ASSIGN_OR_RAISE(auto file, fs->NewWritableFile(path));
  std::unique_ptr<SegmentWriter> writer(
      new SegmentWriter(fs, std::move(dir), id, path, std::move(file)));
  SegmentHeader header = EncodeSegmentHeader(id);
  arrow::Status status = writer->Append(
      std::string_view(reinterpret_cast<const char*>(header.data()), header.size()));
  if (status.ok()) status = writer->Sync();
  if (!status.ok()) {
    (void)writer->Close();
    (void)fs->Delete(path);
    return status;
  }
  return writer;
}

SegmentWriter::SegmentWriter(FileSystem* fs, std::string dir, SegmentId id,
                             std::string path, std::unique_ptr<WritableFile> file)
    : fs_(fs),
      dir_(std::move(dir)),
      id_(id),
      path_(std::move(path)),
      file_(std::move(file)) {}

SegmentWriter::~SegmentWriter() { (void)Close(); }

arrow::Status SegmentWriter::Publish() {
  std::string final_path = JoinPath(dir_, SegmentFileName(id_));
  ARROW_RETURN_NOT_OK(fs_->Rename(path_, final_path));
  file_->Renamed(final_path);  // its errors name the file as it is now called
  path_ = final_path;
  return fs_->SyncDir(dir_);
}

arrow::Status SegmentWriter::Append(std::string_view framed) {
  return file_->Append(framed);
}

arrow::Status SegmentWriter::AppendEntry(std::string_view payload) {
  std::string entry(kEntryHeaderSize, '\0');
  entry.append(payload);
  FrameEntry(id_, crc32c::Value(payload), &entry);
  return Append(entry);
}

arrow::Status SegmentWriter::Sync() {
  if (!has_unsynced_data()) return arrow::Status::OK();
  uint64_t size = file_->size();
  ARROW_RETURN_NOT_OK(file_->Sync());
  synced_size_ = size;
  return arrow::Status::OK();
}

arrow::Status SegmentWriter::Close() { return file_->Close(); }

void FrameEntry(SegmentId id, uint32_t payload_crc, std::string* entry) {
  auto size = static_cast<uint32_t>(entry->size() - kEntryHeaderSize);
  EncodeEntryHeader(id, size, payload_crc, reinterpret_cast<uint8_t*>(entry->data()));
}

}  // namespace ingester::wal
