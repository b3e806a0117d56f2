//===- ChatTemplate.cpp - Jinja2 chat templates ---------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The evaluator: walks the AST with Jinja's scoping rules, which templates
// depend on. `set` writes to the innermost scope; each iteration of a `for`
// loop has a fresh one (so a `set` inside a loop is gone after it, which
// is why templates carry state in a `namespace()`), `if` has none, and a
// macro body sees its parameters, then the template's top-level variables
// and the context, never its caller's locals.
//
// Every step is bounded (RenderLimits), so a template that loops or
// recurses without end fails with an error.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/ChatTemplate.h"
#include "ChatTemplateImpl.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Casting.h"

#include <ctime>
#include <optional>

using namespace llvm;

namespace loom {
namespace jinja {
namespace detail {
namespace {

/// How a statement ends: normally, or by `break` or `continue`.
enum class Flow { Normal, Break, Continue };

class Renderer {
public:
  Renderer(const TemplateBody &body, const RenderLimits &limits)
      : body(body), limits(limits) {}
  ~Renderer() {
    *alive = false;
    // Namespaces are the only mutable values, so every reference cycle goes
    // through one; emptying them frees the cycles.
    for (Value &ns : namespaces)
      ns.clear();
  }

  Expected<std::string> render(const Value &context);

private:
  using Scope = StringMap<Value>;

  /// Counts one level of nesting for as long as it lives.
  struct Nesting {
    Nesting(unsigned &counter) : counter(counter) { ++counter; }
    ~Nesting() { --counter; }
    unsigned &counter;
  };
  /// A scope for as long as it lives.
  struct ScopeGuard {
    ScopeGuard(std::vector<Scope> &scopes) : scopes(scopes) {
      scopes.emplace_back();
    }
    ~ScopeGuard() { scopes.pop_back(); }
    std::vector<Scope> &scopes;
  };

  Error fail(size_t offset, const Twine &message) const {
    return makeError(formatLocation(body.source, offset) + ": " + message);
  }
  /// A builtin's error, located at `offset`.
  Expected<Value> locate(Expected<Value> result, size_t offset) const {
    if (result)
      return checkSize(std::move(*result), offset);
    return fail(offset, toString(result.takeError()));
  }
  Expected<Value> checkSize(Value value, size_t offset) const;
  Error checkDepth(size_t offset) const {
    if (depth > limits.maxDepth)
      return fail(offset, "template nested too deeply (more than " +
                              Twine(limits.maxDepth) +
                              " levels of statements, expressions and "
                              "macro calls)");
    return Error::success();
  }
  Error countIteration(size_t offset) {
    if (++iterations > limits.maxIterations)
      return fail(offset, "more than " + Twine(limits.maxIterations) +
                              " loop iterations and macro calls");
    return Error::success();
  }
  Error write(StringRef text, size_t offset) {
    if (out->size() + text.size() > limits.maxOutputBytes)
      return fail(offset, "output longer than " + Twine(limits.maxOutputBytes) +
                              " bytes");
    out->append(text);
    return Error::success();
  }

  Value lookup(StringRef name) const;
  void assign(StringRef name, Value value) {
    scopes.back()[name] = std::move(value);
  }
  Error assignTargets(ArrayRef<std::string> targets, bool unpack,
                      const Value &value, size_t offset);

  Expected<Flow> execBody(const NodeList &nodes);
  Expected<Flow> exec(const Node &node);
  Expected<Flow> execFor(const ForNode &node);
  Error execSet(const SetNode &node);
  /// Renders `nodes` into a string instead of the output.
  Expected<std::string> capture(const NodeList &nodes);
  Expected<Value> callMacro(const MacroNode &macro, const CallArgs &args);
  Expected<Value> makeNamespace(const CallArgs &args);
  /// A function that calls back into this renderer; it fails once the
  /// render is over (a template can leave one in a namespace that the
  /// caller passed in).
  Value callback(std::string name,
                 std::function<Expected<Value>(const CallArgs &)> body);

  Expected<Value> eval(const Expr &expr);
  Expected<Value> evalUnary(const Expr &expr);
  Expected<Value> evalCompare(const Expr &expr);
  Expected<Value> evalCall(const Expr &expr);
  /// What a call calls; for a method of a builtin type, sets `method` to
  /// the object instead.
  Expected<Value> evalCallee(const Expr &callee, std::optional<Value> &method);
  /// The arguments of a call, filter or test: operands 1 and up.
  Expected<CallArgs> evalArgs(const Expr &expr);
  Expected<Value> applyFilter(const Expr &filter, const Value &subject);
  Expected<Value> applyTest(const Expr &test, const Value &subject);

  const TemplateBody &body;
  const RenderLimits &limits;
  /// The context and globals, the template's top level, then nested
  /// scopes.
  std::vector<Scope> scopes;
  /// The first scope the innermost macro call sees besides the first two.
  size_t firstLocalScope = 2;
  std::string *out = nullptr;
  uint64_t iterations = 0;
  unsigned depth = 0;
  std::vector<Value> namespaces;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

Expected<std::string> Renderer::render(const Value &context) {
  scopes.resize(2);
  Value globals = Value::dict();
  addGlobals(globals);
  globals.set("namespace", callback("namespace", [this](const CallArgs &args) {
                return makeNamespace(args);
              }));
  for (const auto &[name, value] : globals.getEntries())
    scopes[0][name] = value;
  if (context.isDict())
    for (const auto &[name, value] : context.getEntries())
      scopes[0][name] = value;
  std::string result;
  out = &result;
  Expected<Flow> flow = execBody(body.nodes);
  if (!flow)
    return flow.takeError();
  return result;
}

Expected<Value> Renderer::checkSize(Value value, size_t offset) const {
  if (value.isString() && value.getString().size() > limits.maxOutputBytes)
    return fail(offset, "string longer than " + Twine(limits.maxOutputBytes) +
                            " bytes");
  if (value.isList() && value.getItems().size() > limits.maxIterations)
    return fail(offset,
                "list longer than " + Twine(limits.maxIterations) + " items");
  return value;
}

Value Renderer::lookup(StringRef name) const {
  for (size_t i = scopes.size(); i-- > firstLocalScope;)
    if (auto it = scopes[i].find(name); it != scopes[i].end())
      return it->second;
  for (size_t i = std::min<size_t>(firstLocalScope, 2); i-- > 0;)
    if (auto it = scopes[i].find(name); it != scopes[i].end())
      return it->second;
  return Value::undefined("'" + name.str() + "' is undefined");
}

Error Renderer::assignTargets(ArrayRef<std::string> targets, bool unpack,
                              const Value &value, size_t offset) {
  if (!unpack) {
    assign(targets.front(), value);
    return Error::success();
  }
  Expected<std::vector<Value>> items = iterate(value);
  if (!items) {
    consumeError(items.takeError());
    return fail(offset,
                "cannot unpack non-iterable " + value.typeName() + " object");
  }
  if (items->size() < targets.size())
    return fail(offset, "not enough values to unpack (expected " +
                            Twine(targets.size()) + ", got " +
                            Twine(items->size()) + ")");
  if (items->size() > targets.size())
    return fail(offset, "too many values to unpack (expected " +
                            Twine(targets.size()) + ")");
  for (auto [target, item] : zip(targets, *items))
    assign(target, item);
  return Error::success();
}

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

Expected<Flow> Renderer::execBody(const NodeList &nodes) {
  for (const NodePtr &node : nodes) {
    Expected<Flow> flow = exec(*node);
    if (!flow || *flow != Flow::Normal)
      return flow;
  }
  return Flow::Normal;
}

Expected<Flow> Renderer::exec(const Node &node) {
  Nesting nesting(depth);
  if (Error error = checkDepth(node.offset))
    return std::move(error);
  switch (node.kind) {
  case Node::Text:
    if (Error error = write(cast<TextNode>(node).text, node.offset))
      return std::move(error);
    return Flow::Normal;
  case Node::Output: {
    Expected<Value> value = eval(*cast<OutputNode>(node).expr);
    if (!value)
      return value.takeError();
    if (Error error = write(value->str(), node.offset))
      return std::move(error);
    return Flow::Normal;
  }
  case Node::If: {
    const auto &ifNode = cast<IfNode>(node);
    for (const auto &[condition, branch] : ifNode.branches) {
      Expected<Value> test = eval(*condition);
      if (!test)
        return test.takeError();
      if (test->isTruthy())
        return execBody(branch);
    }
    return execBody(ifNode.elseBody);
  }
  case Node::For:
    return execFor(cast<ForNode>(node));
  case Node::Set:
    if (Error error = execSet(cast<SetNode>(node)))
      return std::move(error);
    return Flow::Normal;
  case Node::Macro: {
    const auto *macro = &cast<MacroNode>(node);
    assign(macro->name,
           callback(macro->name, [this, macro](const CallArgs &args) {
             return callMacro(*macro, args);
           }));
    return Flow::Normal;
  }
  case Node::Break:
    return Flow::Break;
  case Node::Continue:
    return Flow::Continue;
  }
  llvm_unreachable("unknown statement kind");
}

Expected<Flow> Renderer::execFor(const ForNode &node) {
  Expected<Value> iterable = eval(*node.iterable);
  if (!iterable)
    return iterable.takeError();
  Expected<std::vector<Value>> items = iterate(*iterable);
  if (!items)
    return fail(node.iterable->offset, toString(items.takeError()));
  // As Jinja, the inline `if` filters first: `loop` counts what is left.
  if (node.condition) {
    std::vector<Value> kept;
    for (Value &item : *items) {
      if (Error error = countIteration(node.offset))
        return std::move(error);
      ScopeGuard scope(scopes);
      if (Error error =
              assignTargets(node.targets, node.unpack, item, node.offset))
        return std::move(error);
      Expected<Value> keep = eval(*node.condition);
      if (!keep)
        return keep.takeError();
      if (keep->isTruthy())
        kept.push_back(std::move(item));
    }
    *items = std::move(kept);
  }
  if (items->empty())
    return execBody(node.elseBody);
  int64_t size = items->size();
  for (int64_t i = 0; i < size; ++i) {
    if (Error error = countIteration(node.offset))
      return std::move(error);
    ScopeGuard scope(scopes);
    if (Error error =
            assignTargets(node.targets, node.unpack, (*items)[i], node.offset))
      return std::move(error);
    Value loop = Value::dict();
    loop.set("index", i + 1);
    loop.set("index0", i);
    loop.set("revindex", size - i);
    loop.set("revindex0", size - i - 1);
    loop.set("first", i == 0);
    loop.set("last", i == size - 1);
    loop.set("length", size);
    loop.set("depth", 1);
    loop.set("depth0", 0);
    if (i > 0)
      loop.set("previtem", (*items)[i - 1]);
    if (i + 1 < size)
      loop.set("nextitem", (*items)[i + 1]);
    loop.set(
        "cycle",
        Value::function("cycle", [i](const CallArgs &args) -> Expected<Value> {
          if (args.positional.empty())
            return makeError("no items for cycling given");
          return args.positional[i % args.positional.size()];
        }));
    assign("loop", std::move(loop));
    Expected<Flow> flow = execBody(node.body);
    if (!flow)
      return flow.takeError();
    if (*flow == Flow::Break)
      break;
  }
  return Flow::Normal;
}

Error Renderer::execSet(const SetNode &node) {
  Value value;
  if (node.value) {
    Expected<Value> result = eval(*node.value);
    if (!result)
      return result.takeError();
    value = std::move(*result);
  } else {
    Expected<std::string> text = capture(node.body);
    if (!text)
      return text.takeError();
    value = Value(std::move(*text));
  }
  if (node.attribute.empty())
    return assignTargets(node.targets, node.unpack, value, node.offset);
  Value object = lookup(node.targets.front());
  if (!object.isNamespace())
    return fail(node.offset, "cannot assign attribute on non-namespace object");
  object.set(node.attribute, std::move(value));
  return Error::success();
}

Expected<std::string> Renderer::capture(const NodeList &nodes) {
  std::string buffer;
  std::string *outer = std::exchange(out, &buffer);
  Expected<Flow> flow = execBody(nodes);
  out = outer;
  if (!flow)
    return flow.takeError();
  return buffer;
}

Expected<Value> Renderer::callMacro(const MacroNode &macro,
                                    const CallArgs &args) {
  if (Error error = countIteration(macro.offset))
    return std::move(error);
  Nesting nesting(depth);
  if (Error error = checkDepth(macro.offset))
    return std::move(error);
  if (args.positional.size() > macro.params.size())
    return fail(macro.offset, "macro '" + macro.name +
                                  "' takes not more than " +
                                  Twine(macro.params.size()) + " argument(s)");
  Scope scope;
  for (auto [param, value] : zip(macro.params, args.positional))
    scope[param] = value;
  for (const auto &[name, value] : args.keyword) {
    if (!is_contained(macro.params, name))
      return fail(macro.offset, "macro '" + macro.name +
                                    "' takes no keyword argument '" + name +
                                    "'");
    if (!scope.try_emplace(name, value).second)
      return fail(macro.offset, "macro '" + macro.name +
                                    "' got multiple values for argument '" +
                                    name + "'");
  }
  size_t outerFirstLocal = std::exchange(firstLocalScope, scopes.size());
  scopes.push_back(std::move(scope));
  std::string buffer;
  std::string *outer = std::exchange(out, &buffer);
  scope_exit restore([&] {
    scopes.pop_back();
    firstLocalScope = outerFirstLocal;
    out = outer;
  });
  // Defaults are evaluated at the call, in the macro's scope, so one may
  // use the parameters before it.
  for (auto [param, defaultValue] : zip(macro.params, macro.defaults)) {
    if (scopes.back().contains(param))
      continue;
    Value value =
        Value::undefined("parameter '" + param + "' was not provided");
    if (defaultValue) {
      Expected<Value> result = eval(*defaultValue);
      if (!result)
        return result.takeError();
      value = std::move(*result);
    }
    assign(param, std::move(value));
  }
  Expected<Flow> flow = execBody(macro.body);
  if (!flow)
    return flow.takeError();
  return Value(std::move(buffer));
}

Value Renderer::callback(
    std::string name, std::function<Expected<Value>(const CallArgs &)> body) {
  return Value::function(
      name,
      [name, body = std::move(body),
       alive = alive](const CallArgs &args) -> Expected<Value> {
        if (!*alive)
          return makeError("'" + name +
                           "' called after its template was rendered");
        return body(args);
      });
}

Expected<Value> Renderer::makeNamespace(const CallArgs &args) {
  Value ns = Value::makeNamespace();
  if (args.positional.size() > 1 ||
      (args.positional.size() == 1 && !args.positional[0].isDict()))
    return makeError("namespace() takes at most one dict and keyword "
                     "arguments");
  if (!args.positional.empty())
    for (const auto &[key, value] : args.positional[0].getEntries())
      ns.set(key, value);
  for (const auto &[key, value] : args.keyword)
    ns.set(key, value);
  namespaces.push_back(ns);
  return ns;
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

Expected<Value> Renderer::eval(const Expr &expr) {
  Nesting nesting(depth);
  if (Error error = checkDepth(expr.offset))
    return std::move(error);
  auto operand = [&](size_t i) -> Expected<Value> {
    if (!expr.operands[i])
      return Value();
    return eval(*expr.operands[i]);
  };
  switch (expr.kind) {
  case Expr::Literal:
    return expr.value;
  case Expr::Name:
    return lookup(expr.name);
  case Expr::List:
  case Expr::Tuple: {
    std::vector<Value> items;
    for (size_t i = 0; i < expr.operands.size(); ++i) {
      Expected<Value> item = operand(i);
      if (!item)
        return item.takeError();
      items.push_back(std::move(*item));
    }
    return expr.kind == Expr::Tuple ? Value::tuple(std::move(items))
                                    : Value::list(std::move(items));
  }
  case Expr::Dict: {
    Value dict = Value::dict();
    for (size_t i = 0; i + 1 < expr.operands.size(); i += 2) {
      Expected<Value> key = operand(i);
      if (!key)
        return key.takeError();
      if (!key->isString())
        return fail(expr.operands[i]->offset,
                    "dict keys must be strings, not '" + key->typeName() + "'");
      Expected<Value> value = operand(i + 1);
      if (!value)
        return value.takeError();
      dict.set(key->getString(), std::move(*value));
    }
    return dict;
  }
  case Expr::Attribute: {
    Expected<Value> object = operand(0);
    if (!object)
      return object.takeError();
    return locate(getAttribute(*object, expr.name), expr.offset);
  }
  case Expr::Subscript: {
    Expected<Value> object = operand(0);
    if (!object)
      return object.takeError();
    Expected<Value> key = operand(1);
    if (!key)
      return key.takeError();
    return locate(getItem(*object, *key), expr.offset);
  }
  case Expr::Slice: {
    Value parts[4];
    for (size_t i = 0; i < 4; ++i) {
      Expected<Value> part = operand(i);
      if (!part)
        return part.takeError();
      parts[i] = std::move(*part);
    }
    return locate(getSlice(parts[0], parts[1], parts[2], parts[3]),
                  expr.offset);
  }
  case Expr::Call:
    return evalCall(expr);
  case Expr::Filter:
  case Expr::Test: {
    Expected<Value> subject = operand(0);
    if (!subject)
      return subject.takeError();
    return expr.kind == Expr::Filter ? applyFilter(expr, *subject)
                                     : applyTest(expr, *subject);
  }
  case Expr::Negate:
  case Expr::Plus:
  case Expr::Not:
    return evalUnary(expr);
  case Expr::Binary: {
    Expected<Value> lhs = operand(0);
    if (!lhs)
      return lhs.takeError();
    Expected<Value> rhs = operand(1);
    if (!rhs)
      return rhs.takeError();
    return locate(binaryOp(expr.name, *lhs, *rhs, limits), expr.offset);
  }
  case Expr::Compare:
    return evalCompare(expr);
  case Expr::And:
  case Expr::Or: {
    // As Python: the operand that decided, not a bool.
    Expected<Value> lhs = operand(0);
    if (!lhs || lhs->isTruthy() == (expr.kind == Expr::Or))
      return lhs;
    return operand(1);
  }
  case Expr::Conditional: {
    Expected<Value> condition = operand(1);
    if (!condition)
      return condition.takeError();
    if (condition->isTruthy())
      return operand(0);
    if (expr.operands[2])
      return operand(2);
    std::string location = formatLocation(body.source, expr.offset);
    return Value::undefined("the inline if-expression on line " +
                            location.substr(0, location.find(':')) +
                            " evaluated to false and no else section was "
                            "defined.");
  }
  }
  llvm_unreachable("unknown expression kind");
}

Expected<Value> Renderer::evalUnary(const Expr &expr) {
  Expected<Value> value = eval(*expr.operands[0]);
  if (!value)
    return value.takeError();
  if (expr.kind == Expr::Not)
    return Value(!value->isTruthy());
  bool negate = expr.kind == Expr::Negate;
  if (value->isFloat())
    return Value(negate ? -value->getNumber() : value->getNumber());
  if (value->isInt() || value->isBool()) {
    int64_t number = value->getInt();
    if (negate && number == INT64_MIN)
      return fail(expr.offset, "integer overflow");
    return Value(negate ? -number : number);
  }
  if (value->isUndefined())
    return fail(expr.offset, toString(undefinedError(*value)));
  return fail(expr.offset, Twine("bad operand type for unary ") +
                               (negate ? "-" : "+") + ": '" +
                               value->typeName() + "'");
}

/// Python's comparison `lhs op rhs`; `notin` is `not in`.
static Expected<bool> compare(StringRef op, const Value &lhs,
                              const Value &rhs) {
  if (op == "==" || op == "!=")
    return (lhs == rhs) == (op == "==");
  if (op == "<" || op == "<=")
    return lessThan(lhs, rhs, op == "<=");
  if (op == ">" || op == ">=")
    return lessThan(rhs, lhs, op == ">=");
  Expected<bool> found = contains(rhs, lhs);
  if (!found)
    return found.takeError();
  return *found == (op == "in");
}

Expected<Value> Renderer::evalCompare(const Expr &expr) {
  Expected<Value> lhs = eval(*expr.operands[0]);
  if (!lhs)
    return lhs.takeError();
  for (auto [op, rhsExpr] : zip(expr.names, drop_begin(expr.operands))) {
    Expected<Value> rhs = eval(*rhsExpr);
    if (!rhs)
      return rhs.takeError();
    Expected<bool> holds = compare(op, *lhs, *rhs);
    if (!holds)
      return fail(rhsExpr->offset, toString(holds.takeError()));
    if (!*holds)
      return Value(false);
    *lhs = std::move(*rhs);
  }
  return Value(true);
}

Expected<Value> Renderer::evalCallee(const Expr &callee,
                                     std::optional<Value> &method) {
  if (callee.kind != Expr::Attribute)
    return eval(callee);
  Expected<Value> object = eval(*callee.operands[0]);
  if (!object)
    return object.takeError();
  // `text.strip()`: called directly, so that its errors say where.
  if (hasMethod(*object, callee.name)) {
    method = std::move(*object);
    return Value();
  }
  return locate(getAttribute(*object, callee.name), callee.offset);
}

Expected<Value> Renderer::evalCall(const Expr &expr) {
  const Expr &callee = *expr.operands[0];
  std::optional<Value> methodObject;
  Expected<Value> function = evalCallee(callee, methodObject);
  if (!function)
    return function.takeError();
  if (!methodObject) {
    if (function->isUndefined())
      return fail(callee.offset, toString(undefinedError(*function)));
    if (!function->isFunction())
      return fail(callee.offset,
                  "'" + function->typeName() + "' object is not callable");
  }
  Expected<CallArgs> args = evalArgs(expr);
  if (!args)
    return args.takeError();
  if (methodObject)
    return locate(std::move(*callMethod(*methodObject, callee.name, *args)),
                  callee.offset);
  // A function's own errors (raise_exception's message) pass unchanged.
  Expected<Value> result = function->getFunction()(*args);
  if (!result)
    return result.takeError();
  return checkSize(std::move(*result), expr.offset);
}

Expected<CallArgs> Renderer::evalArgs(const Expr &expr) {
  CallArgs args;
  size_t numPositional = expr.operands.size() - 1 - expr.names.size();
  for (size_t i = 1; i < expr.operands.size(); ++i) {
    Expected<Value> value = eval(*expr.operands[i]);
    if (!value)
      return value.takeError();
    if (i <= numPositional)
      args.positional.push_back(std::move(*value));
    else
      args.keyword.emplace_back(expr.names[i - 1 - numPositional],
                                std::move(*value));
  }
  return args;
}

Expected<Value> Renderer::applyFilter(const Expr &filter,
                                      const Value &subject) {
  Builtin function = lookupFilter(filter.name);
  if (!function)
    return fail(filter.offset, "unknown filter '" + filter.name + "'");
  Expected<CallArgs> args = evalArgs(filter);
  if (!args)
    return args.takeError();
  return locate(function(subject, *args), filter.offset);
}

Expected<Value> Renderer::applyTest(const Expr &test, const Value &subject) {
  Builtin function = lookupTest(test.name);
  if (!function)
    return fail(test.offset, "unknown test '" + test.name + "'");
  Expected<CallArgs> args = evalArgs(test);
  if (!args)
    return args.takeError();
  return locate(function(subject, *args), test.offset);
}

} // namespace
} // namespace detail

//===----------------------------------------------------------------------===//
// Template
//===----------------------------------------------------------------------===//

Expected<Template> Template::parse(StringRef source) {
  Expected<std::unique_ptr<detail::TemplateBody>> body =
      detail::parseTemplate(source);
  if (!body)
    return body.takeError();
  return Template(
      std::shared_ptr<const detail::TemplateBody>(std::move(*body)));
}

Expected<std::string> Template::render(const Value &context,
                                       const RenderLimits &limits) const {
  return detail::Renderer(*body, limits).render(context);
}

} // namespace jinja

//===----------------------------------------------------------------------===//
// Chat templates
//===----------------------------------------------------------------------===//

/// transformers' `raise_exception(message)`: raises TemplateError(message),
/// whose text is the error.
static Expected<jinja::Value> raiseException(const jinja::CallArgs &args) {
  if (args.positional.size() != 1 || !args.keyword.empty())
    return jinja::detail::makeError("raise_exception() takes one argument");
  return jinja::detail::makeError(args.positional[0].str());
}

/// transformers' `strftime_now(format)`: the local time.
static Expected<jinja::Value> strftimeNow(const jinja::CallArgs &args) {
  if (args.positional.size() != 1 || !args.keyword.empty() ||
      !args.positional[0].isString())
    return jinja::detail::makeError("strftime_now() takes one format string");
  std::time_t now = std::time(nullptr);
  std::tm local;
  localtime_r(&now, &local);
  char buffer[512];
  size_t size = std::strftime(buffer, sizeof(buffer),
                              args.positional[0].getString().c_str(), &local);
  return jinja::Value(StringRef(buffer, size));
}

jinja::Value makeChatContext(ArrayRef<ChatMessage> messages,
                             bool addGenerationPrompt, StringRef bosToken,
                             StringRef eosToken) {
  using jinja::Value;
  Value list = Value::list();
  for (const ChatMessage &message : messages) {
    Value entry = Value::dict();
    entry.set("role", message.role);
    entry.set("content", message.content);
    list.push_back(std::move(entry));
  }
  Value context = Value::dict();
  context.set("messages", std::move(list));
  context.set("add_generation_prompt", addGenerationPrompt);
  context.set("bos_token", bosToken);
  context.set("eos_token", eosToken);
  context.set("raise_exception",
              Value::function("raise_exception", raiseException));
  context.set("strftime_now", Value::function("strftime_now", strftimeNow));
  return context;
}

Expected<std::string> applyChatTemplate(StringRef chatTemplate,
                                        ArrayRef<ChatMessage> messages,
                                        bool addGenerationPrompt,
                                        StringRef bosToken,
                                        StringRef eosToken) {
  Expected<jinja::Template> parsed = jinja::Template::parse(chatTemplate);
  if (!parsed)
    return parsed.takeError();
  return parsed->render(
      makeChatContext(messages, addGenerationPrompt, bosToken, eosToken));
}

} // namespace loom
