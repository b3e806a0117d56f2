//===- CAPI.cpp - the C API of the runtime --------------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Every handle the API gives out is recorded in a registry of live handles
// (address -> kind) until its last release. A call given a null handle, a
// handle of another kind, or one already released gets an error status (or
// the documented error value) instead of touching freed memory. A stale
// address that a new handle of the same kind has since taken cannot be told
// apart; the header says that using a released handle is a caller's bug.
//
//===----------------------------------------------------------------------===//

#include "loom-c/Runtime.h"

#include "loom/Frontend/ModelFile.h"
#include "loom/Runtime/Profile.h"
#include "loom/Runtime/Session.h"

#include "llvm/Support/FormatVariadic.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

using namespace loom;

struct loom_status_s {
  std::string message;
};

namespace {

enum class HandleKind { Model, Artifact, Session };

const char *kindName(HandleKind kind) {
  switch (kind) {
  case HandleKind::Model:
    return "model";
  case HandleKind::Artifact:
    return "artifact";
  case HandleKind::Session:
    return "session";
  }
  return "handle";
}

/// The handles alive now, by address.
class Registry {
public:
  static Registry &get() {
    static Registry *registry = new Registry(); // outlives static handles
    return *registry;
  }
  void add(const void *handle, HandleKind kind) {
    std::lock_guard<std::mutex> lock(mutex);
    live[handle] = kind;
  }
  void remove(const void *handle) {
    std::lock_guard<std::mutex> lock(mutex);
    live.erase(handle);
  }
  bool isLive(const void *handle, HandleKind kind) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = live.find(handle);
    return it != live.end() && it->second == kind;
  }

private:
  std::mutex mutex;
  std::unordered_map<const void *, HandleKind> live;
};

/// The reference count every handle carries, and its place in the registry.
template <typename Derived, HandleKind Kind> struct Handle {
  static constexpr HandleKind kind = Kind;
  std::atomic<int64_t> refs{1};
  Handle() { Registry::get().add(this, Kind); }
  Handle(const Handle &) = delete;
  Handle &operator=(const Handle &) = delete;
  void retain() { refs.fetch_add(1); }
  void release() {
    if (refs.fetch_sub(1) == 1) {
      Registry::get().remove(this);
      delete static_cast<Derived *>(this);
    }
  }
};

loom_status_t makeStatus(llvm::Error error) {
  return new loom_status_s{llvm::toString(std::move(error))};
}
loom_status_t makeStatus(const std::string &message) {
  return new loom_status_s{message};
}

/// Null when `handle` is a live handle of its kind; else the status saying
/// what is wrong with it, naming the function.
template <typename H>
loom_status_t checkHandle(const H *handle, const char *function) {
  if (!handle)
    return makeStatus(
        llvm::formatv("{0}: the {1} is null", function, kindName(H::kind)));
  if (!Registry::get().isLive(handle, H::kind))
    return makeStatus(llvm::formatv("{0}: {1} is not a live {2} handle (it "
                                    "was released, or never was one)",
                                    function, static_cast<const void *>(handle),
                                    kindName(H::kind)));
  return nullptr;
}

/// Whether `handle` may be used by a call that returns no status; reports
/// misuse on stderr (a released handle is a bug worth seeing).
template <typename H> bool usable(const H *handle, const char *function) {
  if (!handle)
    return false;
  if (loom_status_t status = checkHandle(handle, function)) {
    std::fprintf(stderr, "loom: %s\n", status->message.c_str());
    delete status;
    return false;
  }
  return true;
}

} // namespace

struct loom_model_s : Handle<loom_model_s, HandleKind::Model> {
  std::shared_ptr<const ModelFile> model;
};
struct loom_artifact_s : Handle<loom_artifact_s, HandleKind::Artifact> {
  std::shared_ptr<Artifact> artifact;
};
struct loom_session_s : Handle<loom_session_s, HandleKind::Session> {
  std::unique_ptr<Session> session;
};

extern "C" {

const char *loom_status_message(loom_status_t status) {
  return status ? status->message.c_str() : "ok";
}
void loom_status_free(loom_status_t status) { delete status; }

loom_status_t loom_model_open(const char *path, loom_model_t **out_model) {
  if (!path || !out_model)
    return makeStatus("loom_model_open: null argument");
  *out_model = nullptr;
  auto model = readModelFile(path);
  if (!model)
    return makeStatus(model.takeError());
  if (llvm::Error e = validateModel(**model))
    return makeStatus(std::move(e));
  auto *handle = new loom_model_s();
  handle->model = std::move(*model);
  *out_model = handle;
  return nullptr;
}
void loom_model_retain(loom_model_t *model) {
  if (usable(model, "loom_model_retain"))
    model->retain();
}
void loom_model_release(loom_model_t *model) {
  if (usable(model, "loom_model_release"))
    model->release();
}

loom_status_t loom_artifact_load(const char *path,
                                 loom_artifact_t **out_artifact) {
  if (!path || !out_artifact)
    return makeStatus("loom_artifact_load: null argument");
  *out_artifact = nullptr;
  auto artifact = Artifact::load(path);
  if (!artifact)
    return makeStatus(artifact.takeError());
  auto *handle = new loom_artifact_s();
  handle->artifact = std::move(*artifact);
  *out_artifact = handle;
  return nullptr;
}
void loom_artifact_retain(loom_artifact_t *artifact) {
  if (usable(artifact, "loom_artifact_retain"))
    artifact->retain();
}
void loom_artifact_release(loom_artifact_t *artifact) {
  if (usable(artifact, "loom_artifact_release"))
    artifact->release();
}
const char *loom_artifact_model_path(const loom_artifact_t *artifact) {
  if (!usable(artifact, "loom_artifact_model_path"))
    return nullptr;
  return artifact->artifact->manifest().modelPath.c_str();
}

loom_status_t loom_session_create(loom_artifact_t *artifact,
                                  loom_model_t *model,
                                  loom_session_t **out_session) {
  return loom_session_create_on(artifact, model, "cpu", out_session);
}

loom_status_t loom_session_create_on(loom_artifact_t *artifact,
                                     loom_model_t *model, const char *device,
                                     loom_session_t **out_session) {
  if (!out_session || !device)
    return makeStatus("loom_session_create: null argument");
  *out_session = nullptr;
  if (loom_status_t bad = checkHandle(artifact, "loom_session_create"))
    return bad;
  if (loom_status_t bad = checkHandle(model, "loom_session_create"))
    return bad;
  SessionOptions options;
  auto opened = openDevice(device);
  if (!opened)
    return makeStatus(std::string("loom_session_create: device '") + device +
                      "': " + llvm::toString(opened.takeError()));
  options.device = std::move(*opened);
  auto session = Session::create(artifact->artifact, model->model, options);
  if (!session)
    return makeStatus(session.takeError());
  auto *handle = new loom_session_s();
  handle->session = std::move(*session);
  *out_session = handle;
  return nullptr;
}
void loom_session_retain(loom_session_t *session) {
  if (usable(session, "loom_session_retain"))
    session->retain();
}
void loom_session_release(loom_session_t *session) {
  if (usable(session, "loom_session_release"))
    session->release();
}
int64_t loom_session_vocab_size(const loom_session_t *session) {
  if (!usable(session, "loom_session_vocab_size"))
    return -1;
  return session->session->vocab();
}
int64_t loom_session_context_length(const loom_session_t *session) {
  if (!usable(session, "loom_session_context_length"))
    return -1;
  return session->session->contextLength();
}

loom_status_t loom_session_prefill(loom_session_t *session,
                                   const int32_t *tokens, int64_t count,
                                   int64_t position, const float **out_logits) {
  if (loom_status_t bad = checkHandle(session, "loom_session_prefill"))
    return bad;
  if (!out_logits)
    return makeStatus("loom_session_prefill: out_logits is null");
  *out_logits = nullptr;
  if (count <= 0)
    return makeStatus(llvm::formatv("loom_session_prefill: {0} tokens; the "
                                    "count must be at least 1",
                                    count));
  if (!tokens)
    return makeStatus("loom_session_prefill: tokens is null");
  auto logits = session->session->prefill(
      llvm::ArrayRef<int32_t>(tokens, static_cast<size_t>(count)), position);
  if (!logits)
    return makeStatus(logits.takeError());
  *out_logits = logits->data();
  return nullptr;
}

loom_status_t loom_session_decode(loom_session_t *session, int32_t token,
                                  int64_t position, const float **out_logits) {
  if (loom_status_t bad = checkHandle(session, "loom_session_decode"))
    return bad;
  if (!out_logits)
    return makeStatus("loom_session_decode: out_logits is null");
  *out_logits = nullptr;
  auto logits = session->session->decode(token, position);
  if (!logits)
    return makeStatus(logits.takeError());
  *out_logits = logits->data();
  return nullptr;
}

loom_status_t loom_session_encode(loom_session_t *session, const char *entry,
                                  const int32_t *tokens,
                                  const int32_t *token_types,
                                  const int64_t *lengths, int64_t batch,
                                  const float **out, int64_t *out_count) {
  if (loom_status_t bad = checkHandle(session, "loom_session_encode"))
    return bad;
  if (!out || !out_count)
    return makeStatus("loom_session_encode: out or out_count is null");
  *out = nullptr;
  *out_count = 0;
  if (!entry)
    return makeStatus("loom_session_encode: entry is null");
  if (batch <= 0)
    return makeStatus(llvm::formatv("loom_session_encode: a batch of {0} "
                                    "sequences; it must be at least 1",
                                    batch));
  if (!tokens || !lengths)
    return makeStatus("loom_session_encode: tokens or lengths is null");
  std::vector<std::vector<int32_t>> sequences, types;
  int64_t offset = 0;
  for (int64_t i = 0; i < batch; ++i) {
    int64_t n = lengths[i];
    if (n <= 0 || n > INT32_MAX)
      return makeStatus(llvm::formatv("loom_session_encode: sequence {0} "
                                      "has {1} tokens; it must have at "
                                      "least 1",
                                      i, n));
    sequences.emplace_back(tokens + offset, tokens + offset + n);
    if (token_types)
      types.emplace_back(token_types + offset, token_types + offset + n);
    offset += n;
  }
  auto rows = session->session->encodeBatch(entry, sequences, types);
  if (!rows)
    return makeStatus(rows.takeError());
  *out = rows->data();
  *out_count = int64_t(rows->size());
  return nullptr;
}

loom_status_t loom_session_reset(loom_session_t *session) {
  if (loom_status_t bad = checkHandle(session, "loom_session_reset"))
    return bad;
  session->session->reset();
  return nullptr;
}

void loom_profile_enable(int on) { loom::setProfiling(on != 0); }

void loom_profile_reset(void) { loom::resetProfile(); }

int64_t loom_profile_json(char *buffer, int64_t size) {
  std::string json = loom::opTimesJson();
  if (buffer && size > int64_t(json.size())) {
    std::memcpy(buffer, json.data(), json.size());
    buffer[json.size()] = '\0';
  }
  return int64_t(json.size());
}

} // extern "C"
