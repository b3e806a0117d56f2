//===- ChatTemplateBuiltins.cpp - Jinja tests, methods and globals --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The tests of jinja2/tests.py (`is defined`, `is string`, ...), the Python
// `str`, `dict` and `list` methods templates call (`strip()`, `items()`,
// ...), the globals `range` and `dict`, and what the immutable sandbox
// forbids (`append`, `update`, ...). Undefined values answer as Jinja's
// Undefined does: not defined, yet iterable and callable.
//
//===----------------------------------------------------------------------===//

#include "ChatTemplateImpl.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"

using namespace llvm;

namespace loom {
namespace jinja {
namespace detail {
namespace {

//===----------------------------------------------------------------------===//
// Tests
//===----------------------------------------------------------------------===//

/// The one argument of a test such as `divisibleby(3)`.
Expected<Value> testArgument(StringRef test, const CallArgs &args) {
  Expected<Params> params = Params::bind(test, args, {"other"});
  if (!params)
    return params.takeError();
  return (*params)[0];
}

/// A test without arguments: `Predicate` of the value.
template <bool (*Predicate)(const Value &)>
Expected<Value> simpleTest(const Value &v, const CallArgs &args) {
  if (!args.positional.empty() || !args.keyword.empty())
    return makeError("this test takes no arguments");
  return Value(Predicate(v));
}

bool isDefined(const Value &v) { return !v.isUndefined(); }
bool isUndefined(const Value &v) { return v.isUndefined(); }
bool isNone(const Value &v) { return v.isNone(); }
bool isBoolean(const Value &v) { return v.isBool(); }
bool isTrue(const Value &v) { return v.isBool() && v.getBool(); }
bool isFalse(const Value &v) { return v.isBool() && !v.getBool(); }
bool isInteger(const Value &v) { return v.isInt(); }
bool isFloat(const Value &v) { return v.isFloat(); }
bool isNumber(const Value &v) { return v.isNumber(); }
bool isString(const Value &v) { return v.isString(); }
bool isMapping(const Value &v) { return v.isDict() && !v.isNamespace(); }
/// Jinja's Undefined iterates (as empty), has a length and is callable
/// (failing).
bool isIterable(const Value &v) {
  return v.isUndefined() || v.isString() || v.isList() || isMapping(v);
}
bool isCallable(const Value &v) { return v.isFunction() || v.isUndefined(); }
bool isLower(const Value &v) {
  std::string text = v.str();
  return StringRef(text).lower() == text && StringRef(text).upper() != text;
}
bool isUpper(const Value &v) {
  std::string text = v.str();
  return StringRef(text).upper() == text && StringRef(text).lower() != text;
}
bool isEscaped(const Value &) { return false; }

/// `even`, `odd` and `divisibleby`: `value % divisor == remainder`.
Expected<Value> testModulo(const Value &v, const Value &divisor,
                           int64_t remainder) {
  Expected<Value> modulo = binaryOp("%", v, divisor, RenderLimits());
  if (!modulo)
    return modulo.takeError();
  return Value(*modulo == Value(remainder));
}
Expected<Value> testEven(const Value &v, const CallArgs &args) {
  if (!args.positional.empty() || !args.keyword.empty())
    return makeError("this test takes no arguments");
  return testModulo(v, Value(2), 0);
}
Expected<Value> testOdd(const Value &v, const CallArgs &args) {
  if (!args.positional.empty() || !args.keyword.empty())
    return makeError("this test takes no arguments");
  return testModulo(v, Value(2), 1);
}
Expected<Value> testDivisibleBy(const Value &v, const CallArgs &args) {
  Expected<Value> divisor = testArgument("divisibleby", args);
  if (!divisor)
    return divisor.takeError();
  return testModulo(v, *divisor, 0);
}

/// The comparison tests (`eq`, `lt`, `in`, ...) as Python's operators:
/// `Op` is '=', '!', '<', '>' or 'i' (in).
template <char Op, bool OrEqual = false>
Expected<Value> testCompare(const Value &v, const CallArgs &args) {
  Expected<Value> other = testArgument("comparison", args);
  if (!other)
    return other.takeError();
  if (Op == '=' || Op == '!')
    return Value((v == *other) == (Op == '='));
  Expected<bool> result = Op == '<'   ? lessThan(v, *other, OrEqual)
                          : Op == '>' ? lessThan(*other, v, OrEqual)
                                      : contains(*other, v);
  if (!result)
    return result.takeError();
  return Value(*result);
}

//===----------------------------------------------------------------------===//
// Methods
//===----------------------------------------------------------------------===//

constexpr StringRef kStringMethods[] = {
    "capitalize", "count",  "endswith", "find",   "join",
    "lower",      "lstrip", "replace",  "rstrip", "split",
    "startswith", "strip",  "title",    "upper"};
constexpr StringRef kDictMethods[] = {"get", "items", "keys", "values"};
constexpr StringRef kListMethods[] = {"count", "index"};

Expected<Value> callStringMethod(StringRef text, StringRef name,
                                 const CallArgs &args) {
  auto bind = [&](ArrayRef<StringRef> names) {
    return Params::bind("str." + name.str(), args, names);
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Expected<Params> params = bind({"chars"});
    if (!params)
      return params.takeError();
    Expected<std::string> out =
        strip(text, (*params)[0], name != "rstrip", name != "lstrip");
    if (!out)
      return out.takeError();
    return Value(std::move(*out));
  }
  if (name == "upper" || name == "lower" || name == "title" ||
      name == "capitalize") {
    Expected<Params> params = bind({});
    if (!params)
      return params.takeError();
    return Value(name == "upper"   ? text.upper()
                 : name == "lower" ? text.lower()
                 : name == "title" ? pythonTitle(text)
                                   : capitalize(text));
  }
  if (name == "split") {
    Expected<Params> params = bind({"sep", "maxsplit"});
    if (!params)
      return params.takeError();
    Expected<int64_t> maxSplit = params->getInt(1, -1, "maxsplit");
    if (!maxSplit)
      return maxSplit.takeError();
    return split(text, (*params)[0], *maxSplit);
  }
  if (name == "startswith" || name == "endswith") {
    Expected<Params> params = bind({"prefix"});
    if (!params)
      return params.takeError();
    const Value &affix = (*params)[0];
    std::vector<Value> affixes =
        affix.isList() ? affix.getItems().vec() : std::vector<Value>{affix};
    for (const Value &candidate : affixes) {
      Expected<std::string> string = requireString(candidate, name);
      if (!string)
        return string.takeError();
      if (name == "startswith" ? text.starts_with(*string)
                               : text.ends_with(*string))
        return Value(true);
    }
    return Value(false);
  }
  if (name == "replace") {
    Expected<Params> params = bind({"old", "new", "count"});
    if (!params)
      return params.takeError();
    Expected<std::string> from = requireString((*params)[0], "replace old");
    if (!from)
      return from.takeError();
    Expected<std::string> to = requireString((*params)[1], "replace new");
    if (!to)
      return to.takeError();
    Expected<int64_t> count = params->getInt(2, -1, "replace count");
    if (!count)
      return count.takeError();
    return Value(replace(text, *from, *to, *count));
  }
  if (name == "find" || name == "count") {
    Expected<Params> params = bind({"sub"});
    if (!params)
      return params.takeError();
    Expected<std::string> sub = requireString((*params)[0], name);
    if (!sub)
      return sub.takeError();
    if (name == "count")
      return Value(int64_t(sub->empty() ? splitChars(text).size() + 1
                                        : text.count(*sub)));
    size_t found = text.find(*sub);
    return Value(found == StringRef::npos
                     ? int64_t(-1)
                     : int64_t(splitChars(text.take_front(found)).size()));
  }
  // join
  Expected<Params> params = bind({"iterable"});
  if (!params)
    return params.takeError();
  Expected<std::vector<Value>> items = iterate((*params)[0]);
  if (!items)
    return items.takeError();
  std::string out;
  for (auto [i, item] : enumerate(*items)) {
    if (!item.isString())
      return makeError("sequence item " + Twine(i) +
                       ": expected str instance, " + item.typeName() +
                       " found");
    if (i > 0)
      out += text;
    out += item.getString();
  }
  return Value(std::move(out));
}

Expected<Value> callDictMethod(const Value &dict, StringRef name,
                               const CallArgs &args) {
  if (name == "get") {
    Expected<Params> params =
        Params::bind("dict.get", args, {"key", "default"});
    if (!params)
      return params.takeError();
    const Value *value =
        (*params)[0].isString() ? dict.find((*params)[0].getString()) : nullptr;
    if (value)
      return *value;
    return params->has(1) ? (*params)[1] : Value::none();
  }
  Expected<Params> params = Params::bind("dict." + name.str(), args, {});
  if (!params)
    return params.takeError();
  std::vector<Value> items;
  for (const auto &[key, value] : dict.getEntries())
    items.push_back(name == "keys"     ? Value(key)
                    : name == "values" ? value
                                       : Value::tuple({Value(key), value}));
  return Value::list(std::move(items));
}

/// `list.count(x)` and `list.index(x)`.
Expected<Value> callListMethod(ArrayRef<Value> items, StringRef name,
                               const CallArgs &args) {
  Expected<Params> params = Params::bind("list." + name.str(), args, {"x"});
  if (!params)
    return params.takeError();
  const Value &x = (*params)[0];
  if (name == "count")
    return Value(int64_t(count(items, x)));
  const Value *found = find(items, x);
  if (found == items.end())
    return makeError(x.repr() + " is not in list");
  return Value(int64_t(found - items.begin()));
}

//===----------------------------------------------------------------------===//
// Globals
//===----------------------------------------------------------------------===//

/// The largest range the sandbox allows (jinja2.sandbox.MAX_RANGE).
constexpr uint64_t kMaxRange = 100000;

Expected<Value> globalRange(const CallArgs &args) {
  if (!args.keyword.empty())
    return makeError("range() takes no keyword arguments");
  size_t count = args.positional.size();
  if (count < 1 || count > 3)
    return makeError("range expected 1 to 3 arguments, got " + Twine(count));
  int64_t bounds[3] = {0, 0, 1};
  for (auto [i, arg] : enumerate(args.positional)) {
    if (!arg.isInt() && !arg.isBool())
      return makeError("'" + arg.typeName() +
                       "' object cannot be interpreted as an integer");
    bounds[count == 1 ? 1 : i] = arg.getInt();
  }
  auto [start, stop, step] = bounds;
  if (step == 0)
    return makeError("range() arg 3 must not be zero");
  uint64_t size = 0;
  if (step > 0 && start < stop)
    size = (uint64_t(stop) - uint64_t(start) - 1) / uint64_t(step) + 1;
  else if (step < 0 && start > stop)
    size = (uint64_t(start) - uint64_t(stop) - 1) / (0 - uint64_t(step)) + 1;
  if (size > kMaxRange)
    return makeError("Range too big. The sandbox blocks ranges larger than "
                     "MAX_RANGE (100000).");
  std::vector<Value> items;
  for (uint64_t i = 0; i < size; ++i)
    items.push_back(Value(start + int64_t(i) * step));
  return Value::list(std::move(items));
}

Expected<Value> globalDict(const CallArgs &args) {
  if (!args.positional.empty())
    return makeError("dict() takes keyword arguments only");
  Value dict = Value::dict();
  for (const auto &[key, value] : args.keyword)
    dict.set(key, value);
  return dict;
}

} // namespace

//===----------------------------------------------------------------------===//
// Lookup
//===----------------------------------------------------------------------===//

Builtin lookupTest(StringRef name) {
  return StringSwitch<Builtin>(name)
      .Case("boolean", simpleTest<isBoolean>)
      .Case("callable", simpleTest<isCallable>)
      .Case("defined", simpleTest<isDefined>)
      .Case("divisibleby", testDivisibleBy)
      .Cases({"eq", "equalto", "=="}, testCompare<'='>)
      .Case("escaped", simpleTest<isEscaped>)
      .Case("even", testEven)
      .Case("false", simpleTest<isFalse>)
      .Case("float", simpleTest<isFloat>)
      .Cases({"ge", ">="}, testCompare<'>', true>)
      .Cases({"gt", "greaterthan", ">"}, testCompare<'>'>)
      .Case("in", testCompare<'i'>)
      .Case("integer", simpleTest<isInteger>)
      .Cases({"iterable", "sequence"}, simpleTest<isIterable>)
      .Cases({"le", "<="}, testCompare<'<', true>)
      .Case("lower", simpleTest<isLower>)
      .Cases({"lt", "lessthan", "<"}, testCompare<'<'>)
      .Case("mapping", simpleTest<isMapping>)
      .Cases({"ne", "!="}, testCompare<'!'>)
      .Case("none", simpleTest<isNone>)
      .Case("number", simpleTest<isNumber>)
      .Case("odd", testOdd)
      .Case("string", simpleTest<isString>)
      .Case("true", simpleTest<isTrue>)
      .Case("undefined", simpleTest<isUndefined>)
      .Case("upper", simpleTest<isUpper>)
      .Default(nullptr);
}

bool hasMethod(const Value &object, StringRef name) {
  if (object.isString())
    return is_contained(kStringMethods, name);
  if (object.isDict() && !object.isNamespace())
    return is_contained(kDictMethods, name);
  if (object.isList())
    return is_contained(kListMethods, name);
  return false;
}

bool isUnsafeMethod(const Value &object, StringRef name) {
  // jinja2.sandbox's `_mutable_spec`, and Python's private attributes.
  if (name.starts_with("_"))
    return true;
  if (object.isList() && !object.isTuple())
    return is_contained({"append", "clear", "extend", "insert", "pop", "remove",
                         "reverse", "sort"},
                        name);
  if (object.isDict() && !object.isNamespace())
    return is_contained({"clear", "pop", "popitem", "setdefault", "update"},
                        name);
  return false;
}

std::optional<Expected<Value>> callMethod(const Value &object, StringRef name,
                                          const CallArgs &args) {
  if (!hasMethod(object, name))
    return std::nullopt;
  if (object.isString())
    return callStringMethod(object.getString(), name, args);
  if (object.isList())
    return callListMethod(object.getItems(), name, args);
  return callDictMethod(object, name, args);
}

void addGlobals(Value &scope) {
  scope.set("range", Value::function("range", globalRange));
  scope.set("dict", Value::function("dict", globalDict));
}

} // namespace detail
} // namespace jinja
} // namespace loom
