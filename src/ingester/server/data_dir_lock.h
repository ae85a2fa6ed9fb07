// One ingester per data dir: an exclusive advisory lock (flock) on <data-dir>/LOCK, held
// for the life of the Ingester. A second process started on the same data dir (a copied
// command line in a cluster of ingesters on one machine) would share the first one's
// ingester id and WAL and delete segments the first still needs; it is refused at
// startup instead, naming the process that holds the lock. The kernel releases the lock
// when the holder exits, however it exits (kill -9 included), so a stale LOCK file never
// blocks a start.
#pragma once

#include <arrow/result.h>

#include <memory>
#include <string>

namespace ingester {

class DataDirLock {
 public:
  // `data_dir` must exist. IOError when the lock file cannot be opened; Invalid naming
  // the data dir and the holder's pid when another process holds the lock.
  static arrow::Result<std::unique_ptr<DataDirLock>> Acquire(const std::string& data_dir);
  ~DataDirLock();  // releases the lock
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace ingester
