// A fast, conservative stand-in for arrow::Array::ValidateFull on the column types of the
// data model (common/column_type.h: dictionary<int32, utf8>, int64, uint64, float64,
// bool, utf8, timestamp[ns]).
//
// Arrow's full validation costs ~0.5 us of fixed overhead per column (visitor dispatch,
// Status objects, a dictionary validated as a nested array), which dominated the
// validation of small batches on WAL replay (100-row entries: 21 columns each). This
// check reads the same buffers directly.
//
// Contract: IsWellFormedDataModelColumn returning true implies ValidateFull would return
// OK for the array; it never reads outside the sizes of the array's buffers. It may
// return false for arrays ValidateFull accepts (any type outside the data model, an
// unknown null count, a missing buffer Arrow would tolerate, non-zero bytes of a null
// slot's dictionary index out of range...): callers then run ValidateFull, whose verdict
// stands. Thread-safe (pure).
#pragma once

#include <arrow/array/data.h>

namespace ingester {

bool IsWellFormedDataModelColumn(const arrow::ArrayData& data);

}  // namespace ingester
