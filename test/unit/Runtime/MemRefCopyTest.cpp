//===- MemRefCopyTest.cpp - the runtime's memrefCopy ----------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The runtime's memrefCopy (which artifacts call for memref.copy between
// non-contiguous buffers) against a plain loop over the same strided
// views: rank 0, a contiguous copy, a transposed source, a column slice
// with an offset, and an empty shape.
//
//===----------------------------------------------------------------------===//

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

namespace {

struct Unranked {
  int64_t rank;
  void *descriptor;
};

extern "C" void memrefCopy(int64_t elementSize, Unranked *src, Unranked *dst);

/// A ranked descriptor of rank 2 as MLIR lays it out.
struct Desc2 {
  float *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
};

void copy2(Desc2 src, Desc2 dst) {
  Unranked s{2, &src}, d{2, &dst};
  memrefCopy(sizeof(float), &s, &d);
}

float at(const Desc2 &d, int64_t i, int64_t j) {
  return d.aligned[d.offset + i * d.strides[0] + j * d.strides[1]];
}

TEST(MemRefCopy, ContiguousAndTransposed) {
  std::vector<float> a(12), b(12, -1.f), c(12, -1.f);
  std::iota(a.begin(), a.end(), 0.f);
  Desc2 src{a.data(), a.data(), 0, {3, 4}, {4, 1}};
  Desc2 dst{b.data(), b.data(), 0, {3, 4}, {4, 1}};
  copy2(src, dst);
  EXPECT_EQ(a, b);
  // The transpose of a as a [4, 3] view (strides 1, 4) into a dense [4, 3].
  Desc2 t{a.data(), a.data(), 0, {4, 3}, {1, 4}};
  Desc2 dense{c.data(), c.data(), 0, {4, 3}, {3, 1}};
  copy2(t, dense);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 3; ++j)
      EXPECT_EQ(at(dense, i, j), a[j * 4 + i]) << i << "," << j;
}

TEST(MemRefCopy, SliceWithOffsetIntoStridedDestination) {
  std::vector<float> a(20), b(30, -1.f);
  std::iota(a.begin(), a.end(), 100.f);
  // Columns 1..2 of rows 1..3 of a [4, 5] matrix, into every other column
  // of a [3, 10] buffer starting at offset 3.
  Desc2 src{a.data(), a.data(), 1 * 5 + 1, {3, 2}, {5, 1}};
  Desc2 dst{b.data(), b.data(), 3, {3, 2}, {10, 2}};
  copy2(src, dst);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 2; ++j)
      EXPECT_EQ(at(dst, i, j), at(src, i, j));
  // Nothing outside the destination view was written.
  int written = 0;
  for (float v : b)
    written += v != -1.f;
  EXPECT_EQ(written, 6);
}

TEST(MemRefCopy, RankZeroAndEmpty) {
  float x = 7.f, y = 0.f;
  struct Desc0 {
    float *allocated, *aligned;
    int64_t offset;
  } s{&x, &x, 0}, d{&y, &y, 0};
  Unranked us{0, &s}, ud{0, &d};
  memrefCopy(sizeof(float), &us, &ud);
  EXPECT_EQ(y, 7.f);
  std::vector<float> a(4, 1.f), b(4, -1.f);
  Desc2 src{a.data(), a.data(), 0, {0, 4}, {4, 1}};
  Desc2 dst{b.data(), b.data(), 0, {0, 4}, {4, 1}};
  copy2(src, dst);
  EXPECT_EQ(b, std::vector<float>(4, -1.f));
}

} // namespace
