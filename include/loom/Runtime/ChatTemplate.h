//===- ChatTemplate.h - Jinja2 chat templates -------------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A model's chat format travels with its tokenizer as a Jinja2 template
// (GGUF `tokenizer.chat_template`, Hugging Face `chat_template`). This is a
// Jinja interpreter for the language those templates use: a lexer, a
// recursive-descent parser to an AST and a tree-walking evaluator, with
// Python's value semantics (truthiness, `str()`, `==`, integer and float
// arithmetic, negative indices and slices, strings indexed by code point).
//
// It is configured as transformers configures Jinja for chat templates
// (`_compile_jinja_template`): `ImmutableSandboxedEnvironment(trim_blocks=
// True, lstrip_blocks=True)` with the loop controls extension, so
//   - the first newline after a block tag or comment is dropped, and the
//     spaces and tabs before a block tag or comment on its own line too;
//   - one trailing newline of the template is dropped;
//   - lists and dicts cannot be mutated (`append` is an error);
//   - `break` and `continue` work inside loops;
//   - `tojson` is transformers' `json.dumps(x, ensure_ascii=False)`, not
//     Jinja's HTML-safe one, and `{% generation %}` renders its body.
// `makeChatContext` adds transformers' `raise_exception` and `strftime_now`.
//
// Statements: `if`/`elif`/`else`, `for` (with `loop`, `else`, an inline
// `if` filter and unpacking), `set` (also `set ns.attr`, tuples and the
// block form), `macro`, `break`, `continue`, `raw`, comments. The filters,
// tests and methods are listed in ChatTemplateFilters.cpp and
// ChatTemplateBuiltins.cpp.
//
// Not supported: `extends`, `block`, `include`, `import`, `call`, `filter`
// and `with` blocks, recursive loops, `*args`/`**kwargs`, string `%`
// formatting and `format`, dict keys other than strings, and Unicode case
// mapping (`upper`, `lower` and `title` change ASCII letters only).
// `map`, `select` and their kin return lists where Jinja returns lazy
// generators, so they fail on a non-iterable even when the result is unused.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_CHATTEMPLATE_H
#define LOOM_RUNTIME_CHATTEMPLATE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace loom {
namespace jinja {

class Value;

/// The arguments of a call as written: the positional ones, then the keyword
/// ones in source order.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

/// A function a template can call: a global such as `raise_exception`, a
/// macro, or a bound method such as `text.strip`. Its error messages reach
/// the caller of `render` unchanged.
using Function = std::function<llvm::Expected<Value>(const CallArgs &)>;

/// A template value, with Python's semantics. Lists and dicts are shared
/// between copies, as Python objects are; templates cannot mutate them (the
/// immutable sandbox), only the attributes of a `namespace()`. Dicts keep
/// insertion order and have string keys.
class Value {
public:
  enum class Kind {
    /// What an unknown name or a missing key gives: falsy, prints as "", and
    /// most operations on it fail with the reason it is undefined.
    Undefined,
    None,
    Bool,
    Int,
    Float,
    String,
    /// A list or, with `isTuple`, a tuple.
    List,
    /// A dict or, with `isNamespace`, a `namespace()` object.
    Dict,
    Function,
  };

  /// An undefined value.
  Value() = default;
  Value(bool value) : kind(Kind::Bool), storage(value) {}
  Value(int value) : Value(int64_t(value)) {}
  Value(int64_t value) : kind(Kind::Int), storage(value) {}
  Value(double value) : kind(Kind::Float), storage(value) {}
  Value(const char *value) : Value(std::string(value)) {}
  Value(llvm::StringRef value) : Value(value.str()) {}
  Value(std::string value) : kind(Kind::String), storage(std::move(value)) {}

  /// An undefined value that says why it is undefined (Jinja's hint, such as
  /// "'foo' is undefined"), for the error of an operation that needs a value.
  static Value undefined(std::string why);
  static Value none();
  static Value list(std::vector<Value> items = {});
  static Value tuple(std::vector<Value> items);
  /// An empty dict; fill it with `set`.
  static Value dict();
  /// An empty `namespace()` object: a dict whose entries are attributes.
  static Value makeNamespace();
  static Value function(std::string name, Function function);

  Kind getKind() const { return kind; }
  bool isUndefined() const { return kind == Kind::Undefined; }
  bool isNone() const { return kind == Kind::None; }
  bool isBool() const { return kind == Kind::Bool; }
  bool isInt() const { return kind == Kind::Int; }
  bool isFloat() const { return kind == Kind::Float; }
  /// Bool, Int or Float, as Python's `numbers.Number`.
  bool isNumber() const { return isBool() || isInt() || isFloat(); }
  bool isString() const { return kind == Kind::String; }
  bool isList() const { return kind == Kind::List; }
  bool isTuple() const;
  bool isDict() const { return kind == Kind::Dict; }
  bool isNamespace() const;
  bool isFunction() const { return kind == Kind::Function; }

  bool getBool() const { return std::get<bool>(storage); }
  /// The integer of an Int or Bool.
  int64_t getInt() const;
  /// The number of a Float, Int or Bool as a double.
  double getNumber() const;
  /// The string of a String, or the reason an Undefined is undefined ("" if
  /// it has none).
  const std::string &getString() const;
  /// The items of a List.
  llvm::ArrayRef<Value> getItems() const;
  /// The entries of a Dict, in insertion order.
  llvm::ArrayRef<std::pair<std::string, Value>> getEntries() const;
  /// The entry of a Dict, or null.
  const Value *find(llvm::StringRef key) const;
  /// Sets the entry of a Dict in place (every copy sees it): a new key goes
  /// last, an existing one keeps its place.
  void set(llvm::StringRef key, Value value);
  /// Appends to a List in place (every copy sees it).
  void push_back(Value value);
  /// Empties a List or Dict in place.
  void clear();
  const Function &getFunction() const;
  llvm::StringRef getFunctionName() const;

  /// Python's `bool(value)`; undefined is false.
  bool isTruthy() const;
  /// Python's `str(value)`, which `{{ value }}` prints: undefined is "",
  /// None "None", 1.0 "1.0", lists and dicts in Python's repr.
  std::string str() const;
  /// Python's `repr(value)`: strings quoted as Python quotes them.
  std::string repr() const;
  /// Python's type name ("str", "int", "dict", ...), for error messages.
  llvm::StringRef typeName() const;

  /// Python's `==`: numbers by value (True == 1), lists and dicts deeply,
  /// undefined equal only to undefined, functions and namespaces by
  /// identity.
  friend bool operator==(const Value &lhs, const Value &rhs);
  friend bool operator!=(const Value &lhs, const Value &rhs) {
    return !(lhs == rhs);
  }

private:
  struct ListData;
  struct DictData;
  struct FunctionData;

  Kind kind = Kind::Undefined;
  std::variant<std::monostate, bool, int64_t, double, std::string,
               std::shared_ptr<ListData>, std::shared_ptr<DictData>,
               std::shared_ptr<FunctionData>>
      storage;
};

/// Bounds on the work of one `render`, so that a hostile or broken template
/// fails instead of exhausting memory, time or the stack.
struct RenderLimits {
  /// The largest output, and the largest string any operation may make.
  size_t maxOutputBytes = size_t(64) << 20;
  /// Loop iterations and macro calls, all together; also the most items of
  /// a list.
  uint64_t maxIterations = 1'000'000;
  /// Nested statements, expressions and macro calls, all together.
  unsigned maxDepth = 500;
};

namespace detail {
struct TemplateBody;
} // namespace detail

/// A parsed template. Cheap to copy; immutable, so safe to render from
/// several threads at once.
class Template {
public:
  /// Parses `source`. Syntax errors say "line:column: what was expected".
  static llvm::Expected<Template> parse(llvm::StringRef source);

  /// Renders with the variables of `context` (a Dict; other values give no
  /// variables), which hide the globals `range`, `namespace` and `dict`.
  /// Runtime errors say "line:column: what went wrong", except that the
  /// errors of `Function`s (such as `raise_exception`) are returned as they
  /// are.
  llvm::Expected<std::string> render(const Value &context,
                                     const RenderLimits &limits = {}) const;

private:
  explicit Template(std::shared_ptr<const detail::TemplateBody> body)
      : body(std::move(body)) {}
  std::shared_ptr<const detail::TemplateBody> body;
};

} // namespace jinja

/// One turn of a conversation.
struct ChatMessage {
  std::string role;
  std::string content;
};

/// The variables transformers' `apply_chat_template` renders with:
/// `messages` (a list of {'role', 'content'} dicts), `add_generation_prompt`,
/// `bos_token`, `eos_token`, and the functions `raise_exception(message)`
/// (fails with the message) and `strftime_now(format)` (the local time).
/// Callers may `set` more (`tools`, `date_string`) before rendering.
jinja::Value makeChatContext(llvm::ArrayRef<ChatMessage> messages,
                             bool addGenerationPrompt, llvm::StringRef bosToken,
                             llvm::StringRef eosToken);

/// Parses `chatTemplate` and renders it with `makeChatContext`'s variables:
/// the prompt text for `messages`, ending with the assistant's header when
/// `addGenerationPrompt`.
llvm::Expected<std::string>
applyChatTemplate(llvm::StringRef chatTemplate,
                  llvm::ArrayRef<ChatMessage> messages,
                  bool addGenerationPrompt, llvm::StringRef bosToken,
                  llvm::StringRef eosToken);

} // namespace loom

#endif // LOOM_RUNTIME_CHATTEMPLATE_H
