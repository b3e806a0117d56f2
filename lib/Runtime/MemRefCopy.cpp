//===- MemRefCopy.cpp - the copy routine compiled code calls --------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// MLIR's conversion to LLVM lowers a `memref.copy` between buffers that are
// not both contiguous to a call of `memrefCopy(elementSize, src, dst)` on
// unranked descriptors, a routine of MLIR's C runner library. The runtime
// defines it (as it defines `loom_parallel_for`), so an artifact links no
// MLIR library and running one loads no part of the compiler. A strided
// copy, element by element, over any rank; contiguous innermost runs move
// with memcpy.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstring>

namespace {

/// MLIR's unranked memref descriptor: the rank, and a pointer to the ranked
/// one {allocated, aligned, offset, sizes[rank], strides[rank]}.
struct UnrankedDescriptor {
  int64_t rank;
  void *descriptor;
};

struct RankedView {
  char *aligned;
  int64_t offset;
  const int64_t *sizes;
  const int64_t *strides;
};

RankedView view(const UnrankedDescriptor &d) {
  auto *fields = static_cast<char *>(d.descriptor);
  RankedView v;
  std::memcpy(&v.aligned, fields + sizeof(void *), sizeof(void *));
  std::memcpy(&v.offset, fields + 2 * sizeof(void *), sizeof(int64_t));
  v.sizes = reinterpret_cast<const int64_t *>(fields + 2 * sizeof(void *) +
                                              sizeof(int64_t));
  v.strides = v.sizes + d.rank;
  return v;
}

/// Copies dimension `dim` onward; `src` and `dst` point at the first
/// element of this slice.
void copyDims(int64_t rank, int64_t dim, int64_t elementSize,
              const RankedView &s, const RankedView &d, const char *src,
              char *dst) {
  if (dim == rank) {
    std::memcpy(dst, src, elementSize);
    return;
  }
  int64_t n = s.sizes[dim];
  if (dim + 1 == rank && s.strides[dim] == 1 && d.strides[dim] == 1) {
    std::memcpy(dst, src, n * elementSize);
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    copyDims(rank, dim + 1, elementSize, s, d,
             src + i * s.strides[dim] * elementSize,
             dst + i * d.strides[dim] * elementSize);
}

} // namespace

extern "C" void memrefCopy(int64_t elementSize, UnrankedDescriptor *src,
                           UnrankedDescriptor *dst) {
  RankedView s = view(*src), d = view(*dst);
  for (int64_t i = 0; i < src->rank; ++i)
    if (s.sizes[i] == 0)
      return;
  copyDims(src->rank, 0, elementSize, s, d, s.aligned + s.offset * elementSize,
           d.aligned + d.offset * elementSize);
}
