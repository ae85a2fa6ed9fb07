// Random identifiers in the RFC 4122 text form.
#pragma once

#include <string>

namespace ingester {

// A random (version 4) UUID in lower-case text form,
// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" (e.g. the object_store_id of a Parquet file).
// Thread-safe; each thread draws from its own generator seeded by std::random_device.
std::string GenerateUuidV4();

}  // namespace ingester
