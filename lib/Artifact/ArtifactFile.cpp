//===- ArtifactFile.cpp - sealing and checking artifact files -------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Artifact/ArtifactFile.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

using namespace llvm;

namespace loom {

namespace {
constexpr StringLiteral kMagic = "LOOMSEAL";
constexpr uint64_t kTrailerBytes = 32, kTrailerVersion = 1;
constexpr uint16_t kElfTypeShared = 3, kElfMachineX86_64 = 62;

Error fail(StringRef path, const Twine &what) {
  return createStringError(inconvertibleErrorCode(),
                           path + ": not a usable Loom artifact: " + what);
}
} // namespace

Error sealArtifact(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> file =
      MemoryBuffer::getFile(path, /*IsText=*/false,
                            /*RequiresNullTerminator=*/false);
  if (!file)
    return createStringError(file.getError(), "cannot read " + path);
  StringRef image = (*file)->getBuffer();
  char trailer[kTrailerBytes];
  std::memcpy(trailer, kMagic.data(), 8);
  support::endian::write64le(trailer + 8, image.size());
  support::endian::write64le(trailer + 16, xxh3_64bits(image));
  support::endian::write64le(trailer + 24, kTrailerVersion);
  file->reset();
  std::error_code ec;
  raw_fd_ostream os(path, ec, sys::fs::OF_Append);
  if (ec)
    return createStringError(ec, "cannot append to " + path);
  os.write(trailer, kTrailerBytes);
  os.close();
  if (os.has_error())
    return createStringError(os.error(), "cannot write " + path);
  return Error::success();
}

bool isArtifactFile(StringRef path) {
  auto buffer = MemoryBuffer::getFileSlice(path, 4, 0);
  return buffer && (*buffer)->getBuffer() == "\x7f"
                                             "ELF";
}

Error checkArtifactFile(StringRef path) {
  sys::fs::file_status status;
  if (std::error_code ec = sys::fs::status(path, status))
    return createStringError(
        ec, path + ": cannot load the artifact: " + ec.message());
  if (status.type() != sys::fs::file_type::regular_file)
    return fail(path, "not a regular file");
  ErrorOr<std::unique_ptr<MemoryBuffer>> file =
      MemoryBuffer::getFile(path, /*IsText=*/false,
                            /*RequiresNullTerminator=*/false);
  if (!file)
    return createStringError(
        file.getError(),
        path + ": cannot load the artifact: " + file.getError().message());
  StringRef bytes = (*file)->getBuffer();
  // The ELF header: 64-bit, little-endian, a shared object for x86-64.
  if (bytes.size() < 64 || !bytes.starts_with("\x7f"
                                              "ELF"))
    return fail(path, "no ELF header");
  if (bytes[4] != 2 || bytes[5] != 1)
    return fail(path, "not a 64-bit little-endian ELF file");
  if (support::endian::read16le(bytes.data() + 16) != kElfTypeShared ||
      support::endian::read16le(bytes.data() + 18) != kElfMachineX86_64)
    return fail(path, "not an x86-64 shared object");
  if (bytes.size() < 64 + kTrailerBytes ||
      !bytes.take_back(kTrailerBytes).starts_with(kMagic))
    return fail(path, "no Loom seal at its end (truncated, or not written by "
                      "loom-compile); compile it again");
  const char *trailer = bytes.end() - kTrailerBytes;
  uint64_t imageBytes = support::endian::read64le(trailer + 8);
  uint64_t checksum = support::endian::read64le(trailer + 16);
  uint64_t version = support::endian::read64le(trailer + 24);
  if (version != kTrailerVersion)
    return fail(path, formatv("its seal is of version {0}, this runtime reads "
                              "{1}; compile it again",
                              version, kTrailerVersion));
  if (imageBytes != bytes.size() - kTrailerBytes)
    return fail(path, formatv("its seal says {0} bytes, the file holds {1} "
                              "(truncated or appended to)",
                              imageBytes, bytes.size() - kTrailerBytes));
  if (xxh3_64bits(bytes.drop_back(kTrailerBytes)) != checksum)
    return fail(path, "its checksum does not match (the file was modified "
                      "or damaged); compile it again");
  return Error::success();
}

} // namespace loom
