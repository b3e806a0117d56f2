//===- ChatTemplateValue.cpp - Jinja values with Python semantics ---------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Templates are written against Python objects, so values behave as Python's
// do: `str()` and `repr()` print as CPython prints (floats by the shortest
// round-trip digits, 1e16 as "1e+16"), strings index and slice by code
// point, `==` compares across int, float and bool, `//` and `%` round
// toward negative infinity. Jinja's lookups are kept too: a missing key or
// index is an undefined value that remembers why, and only using it fails.
//
//===----------------------------------------------------------------------===//

#include "ChatTemplateImpl.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MathExtras.h"

#include <charconv>
#include <cmath>

using namespace llvm;

namespace loom {
namespace jinja {

struct Value::ListData {
  std::vector<Value> items;
  bool isTuple = false;
};

struct Value::DictData {
  std::vector<std::pair<std::string, Value>> entries;
  StringMap<size_t> index;
  bool isNamespace = false;
};

struct Value::FunctionData {
  std::string name;
  Function function;
};

//===----------------------------------------------------------------------===//
// Construction and access
//===----------------------------------------------------------------------===//

Value Value::undefined(std::string why) {
  Value value;
  value.storage = std::move(why);
  return value;
}

Value Value::none() {
  Value value;
  value.kind = Kind::None;
  return value;
}

Value Value::list(std::vector<Value> items) {
  Value value;
  value.kind = Kind::List;
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  value.storage = std::move(data);
  return value;
}

Value Value::tuple(std::vector<Value> items) {
  Value value = list(std::move(items));
  std::get<std::shared_ptr<ListData>>(value.storage)->isTuple = true;
  return value;
}

Value Value::dict() {
  Value value;
  value.kind = Kind::Dict;
  value.storage = std::make_shared<DictData>();
  return value;
}

Value Value::makeNamespace() {
  Value value = dict();
  std::get<std::shared_ptr<DictData>>(value.storage)->isNamespace = true;
  return value;
}

Value Value::function(std::string name, Function function) {
  Value value;
  value.kind = Kind::Function;
  value.storage = std::make_shared<FunctionData>(
      FunctionData{std::move(name), std::move(function)});
  return value;
}

bool Value::isTuple() const {
  return isList() && std::get<std::shared_ptr<ListData>>(storage)->isTuple;
}

bool Value::isNamespace() const {
  return isDict() && std::get<std::shared_ptr<DictData>>(storage)->isNamespace;
}

const std::string &Value::getString() const {
  static const std::string empty;
  const std::string *text = std::get_if<std::string>(&storage);
  return text ? *text : empty;
}

int64_t Value::getInt() const {
  return isBool() ? int64_t(getBool()) : std::get<int64_t>(storage);
}

double Value::getNumber() const {
  return isFloat() ? std::get<double>(storage) : double(getInt());
}

ArrayRef<Value> Value::getItems() const {
  return std::get<std::shared_ptr<ListData>>(storage)->items;
}

ArrayRef<std::pair<std::string, Value>> Value::getEntries() const {
  return std::get<std::shared_ptr<DictData>>(storage)->entries;
}

const Value *Value::find(StringRef key) const {
  const DictData &data = *std::get<std::shared_ptr<DictData>>(storage);
  auto it = data.index.find(key);
  return it == data.index.end() ? nullptr : &data.entries[it->second].second;
}

void Value::set(StringRef key, Value value) {
  DictData &data = *std::get<std::shared_ptr<DictData>>(storage);
  auto [it, inserted] = data.index.try_emplace(key, data.entries.size());
  if (inserted)
    data.entries.emplace_back(key.str(), std::move(value));
  else
    data.entries[it->second].second = std::move(value);
}

void Value::push_back(Value value) {
  std::get<std::shared_ptr<ListData>>(storage)->items.push_back(
      std::move(value));
}

void Value::clear() {
  if (isList()) {
    std::get<std::shared_ptr<ListData>>(storage)->items.clear();
  } else if (isDict()) {
    DictData &data = *std::get<std::shared_ptr<DictData>>(storage);
    data.entries.clear();
    data.index.clear();
  }
}

const Function &Value::getFunction() const {
  return std::get<std::shared_ptr<FunctionData>>(storage)->function;
}

StringRef Value::getFunctionName() const {
  return std::get<std::shared_ptr<FunctionData>>(storage)->name;
}

bool Value::isTruthy() const {
  switch (kind) {
  case Kind::Undefined:
  case Kind::None:
    return false;
  case Kind::Bool:
    return getBool();
  case Kind::Int:
    return getInt() != 0;
  case Kind::Float:
    return getNumber() != 0;
  case Kind::String:
    return !getString().empty();
  case Kind::List:
    return !getItems().empty();
  case Kind::Dict:
    return isNamespace() || !getEntries().empty();
  case Kind::Function:
    return true;
  }
  llvm_unreachable("unknown value kind");
}

StringRef Value::typeName() const {
  switch (kind) {
  case Kind::Undefined:
    return "Undefined";
  case Kind::None:
    return "NoneType";
  case Kind::Bool:
    return "bool";
  case Kind::Int:
    return "int";
  case Kind::Float:
    return "float";
  case Kind::String:
    return "str";
  case Kind::List:
    return isTuple() ? "tuple" : "list";
  case Kind::Dict:
    return isNamespace() ? "Namespace" : "dict";
  case Kind::Function:
    return "function";
  }
  llvm_unreachable("unknown value kind");
}

//===----------------------------------------------------------------------===//
// Printing
//===----------------------------------------------------------------------===//

/// CPython's `repr(float)`: the shortest digits that round-trip, in
/// positional notation when the decimal exponent is in [-4, 16).
static std::string formatFloat(double number) {
  if (std::isnan(number))
    return "nan";
  if (std::isinf(number))
    return number > 0 ? "inf" : "-inf";
  char buffer[64];
  std::to_chars_result result =
      std::to_chars(buffer, buffer + sizeof(buffer) - 1, number,
                    std::chars_format::scientific);
  *result.ptr = '\0';
  StringRef scientific(buffer, result.ptr - buffer);
  std::string out = scientific.consume_front("-") ? "-" : "";
  size_t e = scientific.find('e');
  std::string digits = scientific.take_front(1).str();
  if (scientific[1] == '.')
    digits += scientific.slice(2, e).str();
  int exponent = std::atoi(scientific.data() + e + 1);
  // The position of the decimal point after the first digit.
  int point = exponent + 1;
  int numDigits = digits.size();
  if (point > -4 && point <= 16) {
    if (point <= 0)
      out += "0." + std::string(-point, '0') + digits;
    else if (point >= numDigits)
      out += digits + std::string(point - numDigits, '0') + ".0";
    else
      out += digits.substr(0, point) + "." + digits.substr(point);
    return out;
  }
  out += digits.substr(0, 1);
  if (numDigits > 1)
    out += "." + digits.substr(1);
  int magnitude = std::abs(exponent);
  out += exponent < 0 ? "e-" : "e+";
  out += (magnitude < 10 ? "0" : "") + std::to_string(magnitude);
  return out;
}

/// CPython's `repr(str)`: single quotes unless the text has single quotes
/// and no double ones.
static void quoteString(StringRef text, std::string &out) {
  char quote = text.contains('\'') && !text.contains('"') ? '"' : '\'';
  out += quote;
  for (char c : text) {
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (uint8_t(c) < 0x20 || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[uint8_t(c) >> 4];
      out += hex[c & 15];
    } else {
      out += c;
    }
  }
  out += quote;
}

/// Prints `str(value)`, or `repr(value)` with `quote`. Items of lists and
/// dicts print as their repr. `open` holds the lists and dicts being
/// printed: one met again is a cycle (only namespaces can make one), which
/// prints as "[...]" or "{...}", as in Python.
static void print(const Value &value, std::string &out, bool quote,
                  SmallVectorImpl<const void *> &open) {
  const void *identity = nullptr;
  if (value.isList() && !value.getItems().empty())
    identity = value.getItems().data();
  else if (value.isDict() && !value.getEntries().empty())
    identity = value.getEntries().data();
  if (identity && is_contained(open, identity)) {
    out += value.isList()        ? "[...]"
           : value.isNamespace() ? "<Namespace {...}>"
                                 : "{...}";
    return;
  }
  if (identity)
    open.push_back(identity);
  scope_exit close([&] {
    if (identity)
      open.pop_back();
  });
  switch (value.getKind()) {
  case Value::Kind::Undefined:
    if (quote)
      out += "Undefined";
    return;
  case Value::Kind::None:
    out += "None";
    return;
  case Value::Kind::Bool:
    out += value.getBool() ? "True" : "False";
    return;
  case Value::Kind::Int:
    out += std::to_string(value.getInt());
    return;
  case Value::Kind::Float:
    out += formatFloat(value.getNumber());
    return;
  case Value::Kind::String:
    if (quote)
      quoteString(value.getString(), out);
    else
      out += value.getString();
    return;
  case Value::Kind::List: {
    ArrayRef<Value> items = value.getItems();
    out += value.isTuple() ? '(' : '[';
    for (const Value &item : items) {
      if (&item != items.begin())
        out += ", ";
      print(item, out, /*quote=*/true, open);
    }
    if (value.isTuple() && items.size() == 1)
      out += ',';
    out += value.isTuple() ? ')' : ']';
    return;
  }
  case Value::Kind::Dict:
    out += value.isNamespace() ? "<Namespace {" : "{";
    for (const auto &[key, item] : value.getEntries()) {
      if (&key != &value.getEntries().front().first)
        out += ", ";
      quoteString(key, out);
      out += ": ";
      print(item, out, /*quote=*/true, open);
    }
    out += value.isNamespace() ? "}>" : "}";
    return;
  case Value::Kind::Function:
    out += "<function " + value.getFunctionName().str() + ">";
    return;
  }
}

std::string Value::str() const {
  std::string out;
  SmallVector<const void *> open;
  print(*this, out, /*quote=*/false, open);
  return out;
}

std::string Value::repr() const {
  std::string out;
  SmallVector<const void *> open;
  print(*this, out, /*quote=*/true, open);
  return out;
}

bool operator==(const Value &lhs, const Value &rhs) {
  if (lhs.isNumber() && rhs.isNumber()) {
    if (lhs.isFloat() || rhs.isFloat())
      return lhs.getNumber() == rhs.getNumber();
    return lhs.getInt() == rhs.getInt();
  }
  if (lhs.kind != rhs.kind)
    return false;
  switch (lhs.kind) {
  case Value::Kind::Undefined:
  case Value::Kind::None:
    return true;
  case Value::Kind::String:
    return lhs.getString() == rhs.getString();
  case Value::Kind::List:
    return lhs.isTuple() == rhs.isTuple() &&
           llvm::equal(lhs.getItems(), rhs.getItems());
  case Value::Kind::Dict:
    if (lhs.isNamespace() || rhs.isNamespace())
      return lhs.storage == rhs.storage;
    return lhs.getEntries().size() == rhs.getEntries().size() &&
           all_of(lhs.getEntries(), [&](const auto &entry) {
             const Value *other = rhs.find(entry.first);
             return other && *other == entry.second;
           });
  case Value::Kind::Function:
    return lhs.storage == rhs.storage;
  case Value::Kind::Bool:
  case Value::Kind::Int:
  case Value::Kind::Float:
    break;
  }
  llvm_unreachable("numbers are compared above");
}

namespace detail {

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

Error makeError(const Twine &message) {
  return createStringError(inconvertibleErrorCode(), message);
}

Error undefinedError(const Value &undefined) {
  if (undefined.getString().empty())
    return makeError("value is undefined");
  return makeError(undefined.getString());
}

//===----------------------------------------------------------------------===//
// Lookups and operators
//===----------------------------------------------------------------------===//

/// Jinja's `object_type_repr`, which its undefined messages name.
static std::string objectTypeName(const Value &object) {
  if (object.isNone())
    return "None";
  if (object.isNamespace())
    return "jinja2.utils.Namespace object";
  return object.typeName().str() + " object";
}

/// What Jinja's `Undefined(obj=object, name=key)` says.
static Value missing(const Value &object, const Value &key) {
  if (key.isString())
    return Value::undefined("'" + objectTypeName(object) +
                            "' has no attribute " + key.repr());
  return Value::undefined(objectTypeName(object) + " has no element " +
                          key.repr());
}

Expected<std::vector<Value>> iterate(const Value &value) {
  switch (value.getKind()) {
  case Value::Kind::Undefined:
    return std::vector<Value>();
  case Value::Kind::List:
    return value.getItems().vec();
  case Value::Kind::String: {
    std::vector<Value> chars;
    for (StringRef c : splitChars(value.getString()))
      chars.emplace_back(c);
    return chars;
  }
  case Value::Kind::Dict:
    if (!value.isNamespace()) {
      std::vector<Value> keys;
      for (const auto &entry : value.getEntries())
        keys.emplace_back(entry.first);
      return keys;
    }
    break;
  default:
    break;
  }
  return makeError("'" + value.typeName() + "' object is not iterable");
}

Expected<int64_t> length(const Value &value) {
  switch (value.getKind()) {
  case Value::Kind::Undefined:
    return 0;
  case Value::Kind::String:
    return splitChars(value.getString()).size();
  case Value::Kind::List:
    return value.getItems().size();
  case Value::Kind::Dict:
    if (!value.isNamespace())
      return value.getEntries().size();
    break;
  default:
    break;
  }
  return makeError("object of type '" + value.typeName() + "' has no len()");
}

/// A method bound to its object, for `f = text.strip` without a call.
static Value boundMethod(const Value &object, StringRef name) {
  return Value::function(
      name.str(),
      [object, name = name.str()](const CallArgs &args) -> Expected<Value> {
        std::optional<Expected<Value>> result = callMethod(object, name, args);
        return std::move(*result);
      });
}

Expected<Value> getItem(const Value &object, const Value &key) {
  if (object.isUndefined())
    return undefinedError(object);
  if ((object.isList() || object.isString()) && (key.isInt() || key.isBool())) {
    int64_t index = key.getInt();
    if (object.isList()) {
      int64_t size = object.getItems().size();
      if (index < 0)
        index += size;
      if (index >= 0 && index < size)
        return object.getItems()[index];
    } else {
      std::vector<StringRef> chars = splitChars(object.getString());
      int64_t size = chars.size();
      if (index < 0)
        index += size;
      if (index >= 0 && index < size)
        return Value(chars[index]);
    }
    return missing(object, key);
  }
  if (object.isDict() && key.isString())
    if (const Value *value = object.find(key.getString()))
      return *value;
  // As jinja2's `getitem`: a string key that is no item may be a method.
  if (key.isString() && hasMethod(object, key.getString()))
    return boundMethod(object, key.getString());
  return missing(object, key);
}

Expected<Value> getAttribute(const Value &object, StringRef name) {
  if (object.isUndefined())
    return undefinedError(object);
  if (hasMethod(object, name))
    return boundMethod(object, name);
  if (isUnsafeMethod(object, name))
    return Value::undefined("access to attribute '" + name.str() + "' of '" +
                            object.typeName().str() + "' object is unsafe.");
  if (object.isDict())
    if (const Value *value = object.find(name))
      return *value;
  return missing(object, Value(name));
}

Expected<Value> getSlice(const Value &object, const Value &startValue,
                         const Value &stopValue, const Value &stepValue) {
  // Jinja compiles slices to Python's own `object[a:b:c]`, bypassing its
  // lenient getitem: what cannot be sliced is an error.
  if (object.isUndefined())
    return undefinedError(object);
  if (object.isDict() && !object.isNamespace())
    return makeError("unhashable type: 'slice'");
  if (!object.isList() && !object.isString())
    return makeError("'" + object.typeName() + "' object is not subscriptable");
  for (const Value *bound : {&startValue, &stopValue, &stepValue})
    if (!bound->isUndefined() && !bound->isNone() && !bound->isInt() &&
        !bound->isBool())
      return makeError("slice indices must be integers or None or have an "
                       "__index__ method");
  auto given = [](const Value &bound) {
    return bound.isInt() || bound.isBool();
  };
  int64_t step = given(stepValue) ? stepValue.getInt() : 1;
  if (step == 0)
    return makeError("slice step cannot be zero");
  std::vector<StringRef> chars;
  if (object.isString())
    chars = splitChars(object.getString());
  int64_t size = object.isString() ? chars.size() : object.getItems().size();
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](const Value &bound, int64_t ifAbsent) {
    if (!given(bound))
      return ifAbsent;
    int64_t index = bound.getInt();
    if (index < 0) {
      index = index < -size ? (step < 0 ? -1 : 0) : index + size;
    } else if (index >= size) {
      index = step < 0 ? size - 1 : size;
    }
    return index;
  };
  int64_t start = adjust(startValue, step < 0 ? size - 1 : 0);
  int64_t stop = adjust(stopValue, step < 0 ? -1 : size);
  uint64_t stride = step < 0 ? 0 - uint64_t(step) : uint64_t(step);
  uint64_t count = 0;
  if (step > 0 && start < stop)
    count = (uint64_t(stop - start) - 1) / stride + 1;
  else if (step < 0 && start > stop)
    count = (uint64_t(start - stop) - 1) / stride + 1;
  std::vector<Value> items;
  std::string text;
  for (uint64_t i = 0; i < count; ++i) {
    int64_t index =
        step > 0 ? start + int64_t(i * stride) : start - int64_t(i * stride);
    if (object.isString())
      text += chars[index];
    else
      items.push_back(object.getItems()[index]);
  }
  if (object.isString())
    return Value(std::move(text));
  return object.isTuple() ? Value::tuple(std::move(items))
                          : Value::list(std::move(items));
}

Expected<bool> lessThan(const Value &lhs, const Value &rhs, bool orEqual) {
  if (lhs.isUndefined())
    return undefinedError(lhs);
  if (rhs.isUndefined())
    return undefinedError(rhs);
  if (lhs.isNumber() && rhs.isNumber()) {
    if (lhs.isFloat() || rhs.isFloat())
      return orEqual ? lhs.getNumber() <= rhs.getNumber()
                     : lhs.getNumber() < rhs.getNumber();
    return orEqual ? lhs.getInt() <= rhs.getInt() : lhs.getInt() < rhs.getInt();
  }
  if (lhs.isString() && rhs.isString()) {
    int order = lhs.getString().compare(rhs.getString());
    return orEqual ? order <= 0 : order < 0;
  }
  if (lhs.isList() && rhs.isList() && lhs.isTuple() == rhs.isTuple()) {
    ArrayRef<Value> a = lhs.getItems(), b = rhs.getItems();
    for (size_t i = 0; i < a.size() && i < b.size(); ++i)
      if (a[i] != b[i])
        return lessThan(a[i], b[i]);
    return orEqual ? a.size() <= b.size() : a.size() < b.size();
  }
  return makeError(Twine("'") + (orEqual ? "<=" : "<") +
                   "' not supported between instances of '" + lhs.typeName() +
                   "' and '" + rhs.typeName() + "'");
}

Expected<bool> contains(const Value &haystack, const Value &needle) {
  switch (haystack.getKind()) {
  case Value::Kind::String:
    if (!needle.isString())
      return makeError("'in <string>' requires string as left operand, not " +
                       needle.typeName());
    return StringRef(haystack.getString()).contains(needle.getString());
  case Value::Kind::List:
    return is_contained(haystack.getItems(), needle);
  case Value::Kind::Dict:
    return !haystack.isNamespace() && needle.isString() &&
           haystack.find(needle.getString());
  case Value::Kind::Undefined:
    return false;
  default:
    return makeError("argument of type '" + haystack.typeName() +
                     "' is not iterable");
  }
}

/// Python's `a // b` and `a % b` on integers, rounding toward negative
/// infinity; false on overflow.
static bool floorDivide(int64_t a, int64_t b, int64_t &quotient,
                        int64_t &remainder) {
  if (b == -1) {
    remainder = 0;
    return !MulOverflow(a, int64_t(-1), quotient);
  }
  quotient = a / b;
  remainder = a % b;
  if (remainder != 0 && ((remainder < 0) != (b < 0))) {
    --quotient;
    remainder += b;
  }
  return true;
}

/// `base ** exponent` on integers, false on overflow.
static bool power(int64_t base, int64_t exponent, int64_t &result) {
  result = 1;
  while (exponent > 0) {
    if ((exponent & 1) && MulOverflow(result, base, result))
      return false;
    exponent >>= 1;
    if (exponent > 0 && MulOverflow(base, base, base))
      return false;
  }
  return true;
}

Expected<Value> binaryOp(StringRef op, const Value &lhs, const Value &rhs,
                         const RenderLimits &limits) {
  size_t maxSize = limits.maxOutputBytes;
  auto tooLong = [&] {
    return makeError("string longer than " + Twine(maxSize) + " bytes");
  };
  auto tooManyItems = [&] {
    return makeError("list longer than " + Twine(limits.maxIterations) +
                     " items");
  };
  if (op == "~") {
    std::string text = lhs.str() + rhs.str();
    if (text.size() > maxSize)
      return tooLong();
    return Value(std::move(text));
  }
  if (lhs.isUndefined())
    return undefinedError(lhs);
  if (rhs.isUndefined())
    return undefinedError(rhs);
  auto unsupported = [&] {
    return makeError("unsupported operand type(s) for " + op + ": '" +
                     lhs.typeName() + "' and '" + rhs.typeName() + "'");
  };
  auto overflow = [] { return makeError("integer overflow"); };
  if (lhs.isNumber() && rhs.isNumber()) {
    bool integers = !lhs.isFloat() && !rhs.isFloat();
    int64_t a = integers ? lhs.getInt() : 0, b = integers ? rhs.getInt() : 0;
    double x = lhs.getNumber(), y = rhs.getNumber();
    int64_t result;
    if (op == "+") {
      if (!integers)
        return Value(x + y);
      if (AddOverflow(a, b, result))
        return overflow();
      return Value(result);
    }
    if (op == "-") {
      if (!integers)
        return Value(x - y);
      if (SubOverflow(a, b, result))
        return overflow();
      return Value(result);
    }
    if (op == "*") {
      if (!integers)
        return Value(x * y);
      if (MulOverflow(a, b, result))
        return overflow();
      return Value(result);
    }
    if (op == "/") {
      if (y == 0)
        return makeError("division by zero");
      return Value(x / y);
    }
    if (op == "//" || op == "%") {
      if (y == 0)
        return makeError(op == "%" ? "modulo by zero" : "division by zero");
      if (integers) {
        int64_t quotient, remainder;
        if (!floorDivide(a, b, quotient, remainder))
          return overflow();
        return Value(op == "%" ? remainder : quotient);
      }
      // CPython's float_divmod.
      double remainder = std::fmod(x, y);
      double quotient = (x - remainder) / y;
      if (remainder != 0 && ((remainder < 0) != (y < 0))) {
        remainder += y;
        quotient -= 1;
      }
      if (op == "%")
        return Value(remainder);
      if (quotient == 0)
        return Value(std::copysign(0.0, x / y));
      double floored = std::floor(quotient);
      return Value(quotient - floored > 0.5 ? floored + 1 : floored);
    }
    if (op == "**") {
      if (integers && b >= 0) {
        if (!power(a, b, result))
          return overflow();
        return Value(result);
      }
      if (x == 0 && y < 0)
        return makeError("0.0 cannot be raised to a negative power");
      return Value(std::pow(x, y));
    }
    return unsupported();
  }
  if (op == "+" && lhs.isString() && rhs.isString()) {
    if (lhs.getString().size() + rhs.getString().size() > maxSize)
      return tooLong();
    return Value(lhs.getString() + rhs.getString());
  }
  if (op == "+" && lhs.isList() && rhs.isList() &&
      lhs.isTuple() == rhs.isTuple()) {
    if (lhs.getItems().size() + rhs.getItems().size() > limits.maxIterations)
      return tooManyItems();
    std::vector<Value> items = lhs.getItems().vec();
    append_range(items, rhs.getItems());
    return lhs.isTuple() ? Value::tuple(std::move(items))
                         : Value::list(std::move(items));
  }
  if (op == "*" &&
      (lhs.isInt() || lhs.isBool()) != (rhs.isInt() || rhs.isBool()) &&
      (lhs.isString() || lhs.isList() || rhs.isString() || rhs.isList())) {
    const Value &sequence = lhs.isInt() || lhs.isBool() ? rhs : lhs;
    int64_t count = std::max<int64_t>(
        0, (lhs.isInt() || lhs.isBool() ? lhs : rhs).getInt());
    size_t unit = sequence.isString() ? sequence.getString().size()
                                      : sequence.getItems().size();
    if (unit != 0 &&
        uint64_t(count) >
            (sequence.isString() ? maxSize : limits.maxIterations) / unit)
      return sequence.isString() ? tooLong() : tooManyItems();
    if (sequence.isString()) {
      std::string text;
      for (int64_t i = 0; i < count; ++i)
        text += sequence.getString();
      return Value(std::move(text));
    }
    std::vector<Value> items;
    for (int64_t i = 0; i < count; ++i)
      append_range(items, sequence.getItems());
    return sequence.isTuple() ? Value::tuple(std::move(items))
                              : Value::list(std::move(items));
  }
  if (op == "%" && lhs.isString())
    return makeError("'%' string formatting is not supported");
  return unsupported();
}

} // namespace detail
} // namespace jinja
} // namespace loom
