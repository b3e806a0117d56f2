//===- CAPI.cpp - the C API of the runtime --------------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom-c/Runtime.h"

#include "loom/Frontend/ModelFile.h"
#include "loom/Runtime/Session.h"

#include <atomic>
#include <memory>
#include <string>

using namespace loom;

struct loom_status_s {
  std::string message;
};

namespace {
/// The reference count every handle carries.
template <typename Derived> struct Handle {
  std::atomic<int64_t> refs{1};
  void retain() { refs.fetch_add(1); }
  void release() {
    if (refs.fetch_sub(1) == 1)
      delete static_cast<Derived *>(this);
  }
};

loom_status_t makeStatus(llvm::Error error) {
  return new loom_status_s{llvm::toString(std::move(error))};
}
loom_status_t makeStatus(const char *message) {
  return new loom_status_s{message};
}
} // namespace

struct loom_model_s : Handle<loom_model_s> {
  std::shared_ptr<const ModelFile> model;
};
struct loom_artifact_s : Handle<loom_artifact_s> {
  std::shared_ptr<Artifact> artifact;
};
struct loom_session_s : Handle<loom_session_s> {
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
void loom_model_retain(loom_model_t *model) { model->retain(); }
void loom_model_release(loom_model_t *model) {
  if (model)
    model->release();
}

loom_status_t loom_artifact_load(const char *path,
                                 loom_artifact_t **out_artifact) {
  if (!path || !out_artifact)
    return makeStatus("loom_artifact_load: null argument");
  auto artifact = Artifact::load(path);
  if (!artifact)
    return makeStatus(artifact.takeError());
  auto *handle = new loom_artifact_s();
  handle->artifact = std::move(*artifact);
  *out_artifact = handle;
  return nullptr;
}
void loom_artifact_retain(loom_artifact_t *artifact) { artifact->retain(); }
void loom_artifact_release(loom_artifact_t *artifact) {
  if (artifact)
    artifact->release();
}
const char *loom_artifact_model_path(const loom_artifact_t *artifact) {
  return artifact->artifact->manifest().modelPath.c_str();
}

loom_status_t loom_session_create(loom_artifact_t *artifact,
                                  loom_model_t *model,
                                  loom_session_t **out_session) {
  if (!artifact || !model || !out_session)
    return makeStatus("loom_session_create: null argument");
  auto session = Session::create(artifact->artifact, model->model);
  if (!session)
    return makeStatus(session.takeError());
  auto *handle = new loom_session_s();
  handle->session = std::move(*session);
  *out_session = handle;
  return nullptr;
}
void loom_session_retain(loom_session_t *session) { session->retain(); }
void loom_session_release(loom_session_t *session) {
  if (session)
    session->release();
}
int64_t loom_session_vocab_size(const loom_session_t *session) {
  return session->session->vocab();
}
int64_t loom_session_context_length(const loom_session_t *session) {
  return session->session->contextLength();
}

loom_status_t loom_session_prefill(loom_session_t *session,
                                   const int32_t *tokens, int64_t count,
                                   int64_t position,
                                   const float **out_logits) {
  if (!session || (!tokens && count) || !out_logits)
    return makeStatus("loom_session_prefill: null argument");
  auto logits = session->session->prefill(
      llvm::ArrayRef<int32_t>(tokens, count), position);
  if (!logits)
    return makeStatus(logits.takeError());
  *out_logits = logits->data();
  return nullptr;
}

loom_status_t loom_session_decode(loom_session_t *session, int32_t token,
                                  int64_t position, const float **out_logits) {
  if (!session || !out_logits)
    return makeStatus("loom_session_decode: null argument");
  auto logits = session->session->decode(token, position);
  if (!logits)
    return makeStatus(logits.takeError());
  *out_logits = logits->data();
  return nullptr;
}

void loom_session_reset(loom_session_t *session) { session->session->reset(); }

} // extern "C"
