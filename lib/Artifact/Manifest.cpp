//===- Manifest.cpp - the manifest as JSON --------------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Artifact/Manifest.h"
#include "loom/Support/BoundedJSON.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/JSON.h"

using namespace llvm;

namespace loom {

static StringRef kindName(ParamInfo::Kind k) {
  switch (k) {
  case ParamInfo::Kind::Weight:
    return "weight";
  case ParamInfo::Kind::Tokens:
    return "tokens";
  case ParamInfo::Kind::Position:
    return "position";
  case ParamInfo::Kind::LogitsFrom:
    return "logits_from";
  case ParamInfo::Kind::Cache:
    return "cache";
  case ParamInfo::Kind::Logits:
    return "logits";
  case ParamInfo::Kind::Arena:
    return "arena";
  case ParamInfo::Kind::TokenTypes:
    return "token_types";
  case ParamInfo::Kind::Positions:
    return "positions";
  case ParamInfo::Kind::Sequences:
    return "sequences";
  case ParamInfo::Kind::SequenceLengths:
    return "sequence_lengths";
  }
  llvm_unreachable("unknown parameter kind");
}

const EntryInfo *Manifest::entry(StringRef name) const {
  for (const EntryInfo &e : entries)
    if (e.name == name)
      return &e;
  return nullptr;
}

std::string Manifest::toJSON() const {
  json::Array entryArray;
  for (const EntryInfo &e : entries) {
    json::Array params;
    for (const ParamInfo &p : e.params)
      params.push_back(
          json::Object{{"kind", kindName(p.kind)},
                       {"name", p.name},
                       {"shape", json::Array(p.shape)},
                       {"type", p.elementType},
                       {"storage", p.kind == ParamInfo::Kind::Weight
                                       ? storageTypeName(p.storage).str()
                                       : std::string()},
                       {"shards", p.shards},
                       {"transposed", p.transposed}});
    json::Array kernels;
    for (const KernelInfo &k : e.kernels) {
      json::Object kernel{{"name", k.name},
                          {"deps", json::Array(k.deps)},
                          {"params", json::Array(k.params)},
                          {"reads", json::Array(k.reads)},
                          {"writes", json::Array(k.writes)}};
      if (!k.code.empty())
        kernel["code"] = k.code;
      if (!k.op.empty())
        kernel["op"] = k.op;
      kernels.push_back(std::move(kernel));
    }
    entryArray.push_back(json::Object{{"name", e.name},
                                      {"params", std::move(params)},
                                      {"arena_bytes", e.arenaBytes},
                                      {"max_tokens", e.maxTokens},
                                      {"kernels", std::move(kernels)}});
  }
  json::Object config;
  for (const auto &[key, value] : modelConfig)
    config[key] = value;
  json::Object root{{"version", version},
                    {"architecture", architecture},
                    {"dim", dim},
                    {"layers", layers},
                    {"heads", heads},
                    {"kv_heads", kvHeads},
                    {"head_dim", headDim},
                    {"vocab", vocab},
                    {"context_length", contextLength},
                    {"model", modelPath},
                    {"weights_fingerprint", weightsFingerprint},
                    {"config", std::move(config)},
                    {"cpu", cpu},
                    {"cpu_features", json::Array(cpuFeatures)},
                    {"gpu", gpu},
                    {"gpu_binary", gpuBinary},
                    {"mpi_ranks", mpiRanks},
                    {"entries", std::move(entryArray)}};
  std::string out;
  raw_string_ostream os(out);
  os << json::Value(std::move(root));
  return out;
}

Expected<Manifest> Manifest::fromJSON(StringRef text) {
  auto bad = [](const Twine &what) {
    return createStringError("malformed artifact manifest: " + what);
  };
  Expected<json::Value> parsed = parseBoundedJSON(text);
  if (!parsed)
    return bad(toString(parsed.takeError()));
  const json::Object *root = parsed->getAsObject();
  if (!root)
    return bad("not a JSON object");
  Manifest m;
  auto integer = [&](StringRef key, int64_t &out) -> Error {
    std::optional<int64_t> v = root->getInteger(key);
    if (!v)
      return bad("missing integer '" + key + "'");
    out = *v;
    return Error::success();
  };
  if (Error e = integer("version", m.version))
    return std::move(e);
  if (m.version != kVersion)
    return createStringError("the artifact was made for runtime interface " +
                             Twine(m.version) + ", this runtime speaks " +
                             Twine(kVersion) + ": recompile it");
  for (auto [key, field] : {std::pair<StringRef, int64_t *>{"dim", &m.dim},
                            {"layers", &m.layers},
                            {"heads", &m.heads},
                            {"kv_heads", &m.kvHeads},
                            {"head_dim", &m.headDim},
                            {"vocab", &m.vocab},
                            {"context_length", &m.contextLength}})
    if (Error e = integer(key, *field))
      return std::move(e);
  m.architecture = root->getString("architecture").value_or("").str();
  m.modelPath = root->getString("model").value_or("").str();
  m.weightsFingerprint =
      root->getString("weights_fingerprint").value_or("").str();
  if (const json::Object *config = root->getObject("config")) {
    for (const auto &[key, value] : *config) {
      std::optional<StringRef> text = value.getAsString();
      if (!text)
        return bad("config field '" + key.str() + "' is not a string");
      m.modelConfig.emplace_back(key.str(), text->str());
    }
    llvm::sort(m.modelConfig);
  }
  m.cpu = root->getString("cpu").value_or("").str();
  if (const json::Array *features = root->getArray("cpu_features"))
    for (const json::Value &f : *features) {
      std::optional<StringRef> name = f.getAsString();
      if (!name)
        return bad("a CPU feature that is not a string");
      m.cpuFeatures.push_back(name->str());
    }
  m.gpu = root->getString("gpu").value_or("").str();
  m.gpuBinary = root->getString("gpu_binary").value_or("").str();
  m.mpiRanks = root->getInteger("mpi_ranks").value_or(1);
  if (m.mpiRanks < 1)
    return bad("mpi_ranks must be at least 1");
  const json::Array *entries = root->getArray("entries");
  if (!entries)
    return bad("missing 'entries'");
  for (const json::Value &ev : *entries) {
    const json::Object *eo = ev.getAsObject();
    const json::Array *params = eo ? eo->getArray("params") : nullptr;
    if (!eo || !eo->getString("name") || !params)
      return bad("an entry without a name or params");
    EntryInfo e;
    e.name = eo->getString("name")->str();
    for (const json::Value &pv : *params) {
      const json::Object *po = pv.getAsObject();
      if (!po || !po->getString("kind") || !po->getArray("shape"))
        return bad("a parameter of '" + e.name + "' without kind or shape");
      ParamInfo p;
      std::optional<ParamInfo::Kind> kind =
          StringSwitch<std::optional<ParamInfo::Kind>>(*po->getString("kind"))
              .Case("weight", ParamInfo::Kind::Weight)
              .Case("tokens", ParamInfo::Kind::Tokens)
              .Case("position", ParamInfo::Kind::Position)
              .Case("logits_from", ParamInfo::Kind::LogitsFrom)
              .Case("cache", ParamInfo::Kind::Cache)
              .Case("logits", ParamInfo::Kind::Logits)
              .Case("arena", ParamInfo::Kind::Arena)
              .Case("token_types", ParamInfo::Kind::TokenTypes)
              .Case("positions", ParamInfo::Kind::Positions)
              .Case("sequences", ParamInfo::Kind::Sequences)
              .Case("sequence_lengths", ParamInfo::Kind::SequenceLengths)
              .Default(std::nullopt);
      if (!kind)
        return bad("unknown parameter kind '" + *po->getString("kind") + "'");
      p.kind = *kind;
      p.name = po->getString("name").value_or("").str();
      p.elementType = po->getString("type").value_or("").str();
      if (p.kind == ParamInfo::Kind::Weight) {
        StringRef name = po->getString("storage").value_or("");
        std::optional<StorageType> storage = storageTypeNamed(name);
        if (!storage)
          return bad("weight '" + p.name + "' has the unknown storage type '" +
                     name + "'");
        p.storage = *storage;
      }
      p.shards = po->getInteger("shards").value_or(1);
      p.transposed = po->getBoolean("transposed").value_or(false);
      if (p.shards < 1)
        return bad("a weight split into " + Twine(p.shards) + " shards");
      for (const json::Value &d : *po->getArray("shape")) {
        std::optional<int64_t> v = d.getAsInteger();
        if (!v)
          return bad("a non-integer size in '" + p.name + "'");
        p.shape.push_back(*v);
      }
      e.params.push_back(std::move(p));
    }
    e.arenaBytes = eo->getInteger("arena_bytes").value_or(0);
    e.maxTokens = eo->getInteger("max_tokens").value_or(0);
    if (e.arenaBytes < 0 || e.maxTokens < 0)
      return bad("a negative arena size or token count in '" + e.name + "'");
    if (const json::Array *kernels = eo->getArray("kernels")) {
      for (const json::Value &kv : *kernels) {
        const json::Object *ko = kv.getAsObject();
        const json::Array *deps = ko ? ko->getArray("deps") : nullptr;
        if (!ko || !ko->getString("name") || !deps)
          return bad("a kernel of '" + e.name + "' without name or deps");
        KernelInfo k;
        k.name = ko->getString("name")->str();
        if (std::optional<StringRef> code = ko->getString("code"))
          k.code = code->str();
        if (std::optional<StringRef> op = ko->getString("op"))
          k.op = op->str();
        // Indices in [0, limit), or the error `what`.
        auto indices = [&](const json::Array *list, size_t limit,
                           std::vector<int64_t> &out, StringRef what) -> Error {
          if (!list)
            return Error::success();
          for (const json::Value &x : *list) {
            std::optional<int64_t> v = x.getAsInteger();
            if (!v || *v < 0 || *v >= int64_t(limit))
              return bad("kernel '" + k.name + "' " + what);
            out.push_back(*v);
          }
          return Error::success();
        };
        // Dependencies point to earlier kernels: the graph is acyclic.
        if (Error err = indices(deps, e.kernels.size(), k.deps,
                                "depends on a kernel that does not come "
                                "before it"))
          return std::move(err);
        if (Error err =
                indices(ko->getArray("params"), e.params.size(), k.params,
                        "takes a parameter the entry point does not "
                        "have"))
          return std::move(err);
        for (auto [key, list] :
             {std::pair{"reads", &k.reads}, std::pair{"writes", &k.writes}})
          if (const json::Array *names = ko->getArray(key))
            for (const json::Value &n : *names)
              if (std::optional<StringRef> str = n.getAsString())
                list->push_back(str->str());
        e.kernels.push_back(std::move(k));
      }
    }
    m.entries.push_back(std::move(e));
  }
  return m;
}

} // namespace loom
