#include "ingester/dml/write_op.h"

namespace ingester {

int64_t WriteOp::RowCount() const {
  int64_t rows = 0;
  for (const auto& w : writes) rows += w.batch->num_rows();
  return rows;
}

}  // namespace ingester
