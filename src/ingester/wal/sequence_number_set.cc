#include "ingester/wal/sequence_number_set.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace ingester::wal {

namespace {
constexpr SequenceNumber kMax = std::numeric_limits<SequenceNumber>::max();
}  // namespace

bool SequenceNumberSet::Contains(SequenceNumber n) const {
  auto it = ranges_.upper_bound(n);
  if (it == ranges_.begin()) return false;
  --it;
  return n <= it->second;
}

bool SequenceNumberSet::Add(SequenceNumber n) {
  if (Contains(n)) return false;
  AddRange(n, n);
  return true;
}

bool SequenceNumberSet::Remove(SequenceNumber n) {
  if (!Contains(n)) return false;
  RemoveRange(n, n);
  return true;
}

void SequenceNumberSet::AddRange(SequenceNumber first, SequenceNumber last) {
  // The first range that overlaps [first, last] or touches it from the left.
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= first || prev->second + 1 == first) it = prev;
  }
  SequenceNumber new_first = first, new_last = last;
  while (it != ranges_.end() && (last == kMax || it->first <= last + 1)) {
    new_first = std::min(new_first, it->first);
    new_last = std::max(new_last, it->second);
    size_ -= it->second - it->first + 1;
    it = ranges_.erase(it);
  }
  ranges_.emplace(new_first, new_last);
  size_ += new_last - new_first + 1;
}

void SequenceNumberSet::RemoveRange(SequenceNumber first, SequenceNumber last) {
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin() && std::prev(it)->second >= first) --it;
  std::vector<std::pair<SequenceNumber, SequenceNumber>> keep;
  while (it != ranges_.end() && it->first <= last) {
    auto [f, l] = *it;
    size_ -= l - f + 1;
    it = ranges_.erase(it);
    if (f < first) keep.emplace_back(f, first - 1);
    if (l > last) keep.emplace_back(last + 1, l);
  }
  for (auto [f, l] : keep) {
    ranges_.emplace(f, l);
    size_ += l - f + 1;
  }
}

void SequenceNumberSet::Merge(const SequenceNumberSet& other) {
  for (const auto& [first, last] : other.ranges_) AddRange(first, last);
}

void SequenceNumberSet::Subtract(const SequenceNumberSet& other) {
  for (const auto& [first, last] : other.ranges_) RemoveRange(first, last);
}

bool SequenceNumberSet::Intersects(const SequenceNumberSet& other) const {
  auto a = ranges_.begin();
  auto b = other.ranges_.begin();
  while (a != ranges_.end() && b != other.ranges_.end()) {
    if (a->second < b->first) {
      ++a;
    } else if (b->second < a->first) {
      ++b;
    } else {
      return true;
    }
  }
  return false;
}

std::optional<SequenceNumber> SequenceNumberSet::min() const {
  if (ranges_.empty()) return std::nullopt;
  return ranges_.begin()->first;
}

std::optional<SequenceNumber> SequenceNumberSet::max() const {
  if (ranges_.empty()) return std::nullopt;
  return ranges_.rbegin()->second;
}

std::string SequenceNumberSet::ToString() const {
  std::string out;
  for (const auto& [first, last] : ranges_) {
    if (!out.empty()) out.push_back(',');
    out += std::to_string(first);
    if (last != first) out += "-" + std::to_string(last);
  }
  return out;
}

}  // namespace ingester::wal
