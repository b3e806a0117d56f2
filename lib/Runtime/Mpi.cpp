//===- Mpi.cpp - joining the MPI world of an expert-ranks artifact --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// An artifact compiled for several MPI ranks links an MPI library; the
// runtime reaches it through the artifact's symbols (no MPI headers or
// library of its own). `joinMpiWorld` initializes MPI unless the process
// already did, finalizes it at exit, and checks the size of the world.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Session.h"

#include "llvm/Support/FormatVariadic.h"

#include <cstdint>
#include <cstdlib>
#include <dlfcn.h>
#include <string>

using namespace llvm;

namespace loom {

/// MPI's C API, as the artifact's MPI library exports it. The thread-level
/// constants are the same in OpenMPI and MPICH.
namespace {
using MpiInitialized = int (*)(int *);
using MpiInitThread = int (*)(int *, char ***, int, int *);
using MpiFinalize = int (*)();
constexpr int kMpiThreadSerialized = 2;
MpiFinalize mpiFinalize = nullptr;
MpiInitialized mpiFinalized = nullptr;
void finalizeMpi() {
  int done = 0;
  if (mpiFinalized && mpiFinalized(&done) == 0 && !done)
    mpiFinalize();
}
} // namespace

Expected<int> joinMpiWorld(const Artifact &artifact) {
  const Manifest &m = artifact.manifest();
  auto initialized =
      reinterpret_cast<MpiInitialized>(artifact.symbol("MPI_Initialized"));
  auto initThread =
      reinterpret_cast<MpiInitThread>(artifact.symbol("MPI_Init_thread"));
  auto finalized =
      reinterpret_cast<MpiInitialized>(artifact.symbol("MPI_Finalized"));
  auto finalize =
      reinterpret_cast<MpiFinalize>(artifact.symbol("MPI_Finalize"));
  auto commSize = reinterpret_cast<int (*)(void *, int *)>(
      artifact.symbol("MPI_Comm_size"));
  auto rank = reinterpret_cast<int (*)()>(artifact.symbol("loom_mpi_rank"));
  if (!initialized || !initThread || !finalized || !finalize || !commSize ||
      !rank)
    return createStringError(
        formatv("{0}: compiled for {1} MPI ranks, but the library has no MPI "
                "(MPI_Init_thread) or no loom_mpi_rank",
                artifact.path(), m.mpiRanks)
            .str());
  // MPI_COMM_WORLD: OpenMPI's is the address of a global, MPICH's a
  // constant handle.
  void *world = artifact.symbol("ompi_mpi_comm_world");
  if (!world)
    world = reinterpret_cast<void *>(uintptr_t(0x44000000));
  int flag = 0;
  initialized(&flag);
  if (!flag) {
    int provided = 0;
    // Kernels run on the runtime's worker threads, one collective at a time.
    if (initThread(nullptr, nullptr, kMpiThreadSerialized, &provided) != 0)
      return createStringError(
          formatv("{0}: MPI_Init_thread failed", artifact.path()).str());
    if (provided < kMpiThreadSerialized)
      return createStringError(
          formatv("{0}: the MPI library does not allow calls from several "
                  "threads (MPI_THREAD_SERIALIZED)",
                  artifact.path())
              .str());
    mpiFinalize = finalize;
    mpiFinalized = finalized;
    // MPI is finalized at exit, after the artifact is released: keep it
    // (and the MPI library it links) loaded until then.
    std::string path = artifact.path().str();
    if (path.find('/') == std::string::npos)
      path = "./" + path;
    dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    std::atexit(finalizeMpi);
  }
  int worldSize = 0;
  if (commSize(world, &worldSize) != 0 || worldSize != m.mpiRanks)
    return createStringError(
        formatv("{0}: compiled for {1} MPI ranks, but runs on {2}: start it "
                "with `mpirun -np {1}`",
                artifact.path(), m.mpiRanks, worldSize)
            .str());
  return rank();
}

} // namespace loom
