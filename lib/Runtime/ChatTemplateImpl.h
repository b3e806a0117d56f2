//===- ChatTemplateImpl.h - the Jinja interpreter's parts -------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// What the parts of the Jinja interpreter share: the tokens the lexer
// (ChatTemplateLexer.cpp) makes, the AST the parser (ChatTemplateParser.cpp)
// builds and the evaluator (ChatTemplate.cpp) walks, Python's operations on
// values (ChatTemplateValue.cpp) and strings (ChatTemplateText.cpp), and
// the builtin filters (ChatTemplateFilters.cpp), tests, methods and globals
// (ChatTemplateBuiltins.cpp) the evaluator calls.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_LIB_RUNTIME_CHATTEMPLATEIMPL_H
#define LOOM_LIB_RUNTIME_CHATTEMPLATEIMPL_H

#include "loom/Runtime/ChatTemplate.h"

#include "llvm/ADT/Twine.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loom {
namespace jinja {
namespace detail {

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

/// An expression. One shape for all kinds keeps the parser and evaluator
/// short; what `name`, `names` and `operands` hold depends on the kind.
struct Expr {
  enum Kind {
    Literal,     // `value`
    Name,        // `name`
    List,        // operands: the items
    Tuple,       // operands: the items
    Dict,        // operands: key, value, key, value, ...
    Attribute,   // operands: {object}; name: the attribute
    Subscript,   // operands: {object, key}
    Slice,       // operands: {object, start, stop, step}, each may be null
    Call,        // operands: {callee, args...}; names: the keywords of the
                 // last names.size() args
    Filter,      // operands: {subject, args...}; name; names as for Call
    Test,        // as Filter; `x is not t` is Not(Test)
    Negate,      // operands: {operand}
    Plus,        // operands: {operand}
    Not,         // operands: {operand}
    Binary,      // operands: {lhs, rhs}; name: + - * / // % ** ~
    Compare,     // operands: {first, others...}; names: == != < <= > >= in
                 // notin, one between each pair (a < b < c chains)
    And,         // operands: {lhs, rhs}
    Or,          // operands: {lhs, rhs}
    Conditional, // operands: {then, condition, else (may be null)}
  };

  Expr(Kind kind, size_t offset) : kind(kind), offset(offset) {}

  Kind kind;
  /// Where the expression starts in the (newline-normalized) source.
  size_t offset;
  /// The longest chain of operands below this one, plus one.
  unsigned depth = 1;
  std::string name;
  std::vector<std::string> names;
  std::vector<std::unique_ptr<Expr>> operands;
  Value value;
};
using ExprPtr = std::unique_ptr<Expr>;

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

struct Node {
  enum Kind { Text, Output, If, For, Set, Macro, Break, Continue };
  Node(Kind kind, size_t offset) : kind(kind), offset(offset) {}
  virtual ~Node() = default;

  Kind kind;
  size_t offset;
};
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

/// Text between tags, after whitespace control.
struct TextNode : Node {
  TextNode(size_t offset, std::string text)
      : Node(Text, offset), text(std::move(text)) {}
  static bool classof(const Node *node) { return node->kind == Text; }
  std::string text;
};

/// `{{ expr }}`.
struct OutputNode : Node {
  OutputNode(size_t offset, ExprPtr expr)
      : Node(Output, offset), expr(std::move(expr)) {}
  static bool classof(const Node *node) { return node->kind == Output; }
  ExprPtr expr;
};

/// `if` with its `elif`s as further branches, and `else`.
struct IfNode : Node {
  explicit IfNode(size_t offset) : Node(If, offset) {}
  static bool classof(const Node *node) { return node->kind == If; }
  std::vector<std::pair<ExprPtr, NodeList>> branches;
  NodeList elseBody;
};

/// `for targets in iterable [if condition]`, `else` when nothing iterated.
struct ForNode : Node {
  explicit ForNode(size_t offset) : Node(For, offset) {}
  static bool classof(const Node *node) { return node->kind == For; }
  /// One name, or several to unpack each item into (`for k, v in ...`).
  std::vector<std::string> targets;
  bool unpack = false;
  ExprPtr iterable, condition;
  NodeList body, elseBody;
};

/// `set targets = value`, `set ns.attribute = value`, or the block form
/// `set name %}body{% endset`.
struct SetNode : Node {
  explicit SetNode(size_t offset) : Node(Set, offset) {}
  static bool classof(const Node *node) { return node->kind == Set; }
  std::vector<std::string> targets;
  bool unpack = false;
  /// Non-empty for `set ns.attribute = ...` (targets then holds `ns`).
  std::string attribute;
  /// Null in the block form.
  ExprPtr value;
  NodeList body;
};

/// `macro name(params, with=defaults)`.
struct MacroNode : Node {
  explicit MacroNode(size_t offset) : Node(Macro, offset) {}
  static bool classof(const Node *node) { return node->kind == Macro; }
  std::string name;
  std::vector<std::string> params;
  /// One per parameter, null where it has no default.
  std::vector<ExprPtr> defaults;
  NodeList body;
};

/// `break` or `continue`.
struct LoopControlNode : Node {
  LoopControlNode(Kind kind, size_t offset) : Node(kind, offset) {}
  static bool classof(const Node *node) {
    return node->kind == Break || node->kind == Continue;
  }
};

/// A parsed template: its statements and, for the line and column of
/// runtime errors, its source.
struct TemplateBody {
  std::string source;
  NodeList nodes;
};

//===----------------------------------------------------------------------===//
// Lexer and parser
//===----------------------------------------------------------------------===//

enum class TokenKind {
  Data,
  VarBegin,
  VarEnd,
  BlockBegin,
  BlockEnd,
  Name,
  String,
  Integer,
  Float,
  Operator,
  End,
};

struct Token {
  TokenKind kind;
  size_t offset;
  /// The text of Data, the spelling of a Name, number or Operator, the
  /// decoded value of a String.
  std::string text;
  int64_t intValue = 0;
  double floatValue = 0;
};

/// The tokens of a (newline-normalized) template, after whitespace control;
/// comments and `raw` blocks are gone, the text of a `raw` block is Data.
llvm::Expected<std::vector<Token>> lexTemplate(llvm::StringRef source);

/// The lexer and parser: `source` is the template as written.
llvm::Expected<std::unique_ptr<TemplateBody>>
parseTemplate(llvm::StringRef source);

/// "line:column" of `offset` in `source`, both counted from 1, the column in
/// bytes.
std::string formatLocation(llvm::StringRef source, size_t offset);

//===----------------------------------------------------------------------===//
// Values (ChatTemplateValue.cpp)
//===----------------------------------------------------------------------===//

/// An error without a location, for builtins.
llvm::Error makeError(const llvm::Twine &message);

/// The error of using an undefined value: the reason it carries.
llvm::Error undefinedError(const Value &undefined);

/// The items a `for` loop visits: a list's items, a dict's keys, a string's
/// characters; nothing for undefined.
llvm::Expected<std::vector<Value>> iterate(const Value &value);

/// Python's `len()`; 0 for undefined.
llvm::Expected<int64_t> length(const Value &value);

/// Python's `x[key]` for an int or string key, with Jinja's fallbacks: a
/// missing item or key is undefined (saying why), not an error.
llvm::Expected<Value> getItem(const Value &object, const Value &key);

/// Jinja's `object.name`: a method, else the item; undefined when neither.
llvm::Expected<Value> getAttribute(const Value &object, llvm::StringRef name);

/// Python's `x[start:stop:step]`, on lists and strings; the bounds may be
/// undefined or None.
llvm::Expected<Value> getSlice(const Value &object, const Value &start,
                               const Value &stop, const Value &step);

/// Python's `a < b` (and `<=` with `orEqual`) on numbers, strings, lists.
llvm::Expected<bool> lessThan(const Value &lhs, const Value &rhs,
                              bool orEqual = false);

/// Python's `needle in haystack`.
llvm::Expected<bool> contains(const Value &haystack, const Value &needle);

/// Python's binary operator `op` (+ - * / // % ** ~). Strings and lists
/// beyond `limits` are errors.
llvm::Expected<Value> binaryOp(llvm::StringRef op, const Value &lhs,
                               const Value &rhs, const RenderLimits &limits);

//===----------------------------------------------------------------------===//
// Python strings (ChatTemplateText.cpp)
//===----------------------------------------------------------------------===//

/// The length of the Python whitespace character (`str.isspace`, ASCII and
/// Unicode) at `text[pos]`, or 0 where there is none.
size_t spaceAt(llvm::StringRef text, size_t pos);
/// The length of the Python whitespace character that ends at `text[end]`
/// (exclusive), or 0.
size_t spaceBefore(llvm::StringRef text, size_t end);
/// `text` without leading/trailing Python whitespace.
llvm::StringRef stripSpaces(llvm::StringRef text, bool left = true,
                            bool right = true);

/// The length of the UTF-8 character at `text[pos]`; 1 for a byte that
/// starts no valid character.
size_t charLength(llvm::StringRef text, size_t pos);
/// `text` cut into characters (code points), as Python indexes a string.
std::vector<llvm::StringRef> splitChars(llvm::StringRef text);

/// The string of a String value, or an error naming `what` it is for.
llvm::Expected<std::string> requireString(const Value &value,
                                          llvm::StringRef what);
/// Python's `str.capitalize`.
std::string capitalize(llvm::StringRef text);
/// Python's `str.title`.
std::string pythonTitle(llvm::StringRef text);
/// Jinja's `title` filter.
std::string jinjaTitle(llvm::StringRef text);
/// Python's `str.strip(chars)`, `lstrip` (`right` false) and `rstrip`.
llvm::Expected<std::string> strip(llvm::StringRef text, const Value &chars,
                                  bool left, bool right);
/// Python's `str.replace(from, to, count)`; a negative count is no limit.
std::string replace(llvm::StringRef text, llvm::StringRef from,
                    llvm::StringRef to, int64_t count);
/// Python's `str.split(separator, maxSplit)`.
llvm::Expected<Value> split(llvm::StringRef text, const Value &separator,
                            int64_t maxSplit);
/// Python's `int(text)` and `float(text)`.
std::optional<int64_t> parseInt(llvm::StringRef text);
std::optional<double> parseFloat(llvm::StringRef text);

//===----------------------------------------------------------------------===//
// Builtins (ChatTemplateFilters.cpp, ChatTemplateBuiltins.cpp)
//===----------------------------------------------------------------------===//

/// A filter or test: `subject | name(args)` or `subject is name(args)`.
/// Errors carry no location; the evaluator adds it.
using Builtin = llvm::Expected<Value> (*)(const Value &subject,
                                          const CallArgs &args);

/// The filter or test of that name, or null.
Builtin lookupFilter(llvm::StringRef name);
Builtin lookupTest(llvm::StringRef name);

/// `object.name` where `object` has a method of that name (`str.strip`,
/// `dict.items`, ...): calls it. None when it has no such method.
std::optional<llvm::Expected<Value>>
callMethod(const Value &object, llvm::StringRef name, const CallArgs &args);

/// Whether `object.name` names one of its methods.
bool hasMethod(const Value &object, llvm::StringRef name);

/// Whether `object.name` names a method the immutable sandbox forbids
/// (`list.append`, `dict.update`, ...).
bool isUnsafeMethod(const Value &object, llvm::StringRef name);

/// The globals every template sees but `namespace`, which the evaluator
/// adds: `range` and `dict`.
void addGlobals(Value &scope);

/// A call's arguments bound to named parameters, as Python binds them.
class Params {
public:
  static llvm::Expected<Params> bind(llvm::StringRef function,
                                     const CallArgs &args,
                                     llvm::ArrayRef<llvm::StringRef> names) {
    Params params;
    params.values.resize(names.size());
    if (args.positional.size() > names.size())
      return makeError(function + "() takes at most " +
                       llvm::Twine(names.size()) + " argument(s) (" +
                       llvm::Twine(args.positional.size()) + " given)");
    for (size_t i = 0; i < args.positional.size(); ++i)
      params.values[i] = args.positional[i];
    for (const auto &[name, value] : args.keyword) {
      const llvm::StringRef *it = llvm::find(names, name);
      if (it == names.end())
        return makeError(function + "() got an unexpected keyword argument '" +
                         name + "'");
      Value &slot = params.values[it - names.begin()];
      if (!slot.isUndefined())
        return makeError(function + "() got multiple values for argument '" +
                         name + "'");
      slot = value;
    }
    return params;
  }

  /// The argument, or undefined when it was not given.
  const Value &operator[](size_t i) const { return values[i]; }
  bool has(size_t i) const { return !values[i].isUndefined(); }
  /// The argument as an integer, or `otherwise` when not given.
  llvm::Expected<int64_t> getInt(size_t i, int64_t otherwise,
                                 llvm::StringRef what) const {
    if (!has(i) || values[i].isNone())
      return otherwise;
    if (!values[i].isInt() && !values[i].isBool())
      return makeError(what + " must be an integer, not '" +
                       values[i].typeName() + "'");
    return values[i].getInt();
  }

private:
  std::vector<Value> values;
};

} // namespace detail
} // namespace jinja
} // namespace loom

#endif // LOOM_LIB_RUNTIME_CHATTEMPLATEIMPL_H
