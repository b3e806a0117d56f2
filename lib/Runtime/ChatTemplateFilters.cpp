//===- ChatTemplateFilters.cpp - Jinja filters ----------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The filters of jinja2/filters.py that chat templates use. Each keeps its
// Python signature (positional or keyword arguments, the same defaults) and
// its corner cases: `trim` strips Unicode whitespace, `indent` follows
// Jinja 3.1, `int` reads "4.7" as 4, `first` of nothing is undefined, and
// `tojson` is transformers' `json.dumps(x, ensure_ascii=False)` with its
// options rather than Jinja's HTML-safe one. `map`, `select` and friends
// return lists where Jinja returns lazy generators.
//
//===----------------------------------------------------------------------===//

#include "ChatTemplateImpl.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <cstdio>

using namespace llvm;

namespace loom {
namespace jinja {
namespace detail {
namespace {

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

/// The options of `json.dumps`.
struct JsonStyle {
  bool ensureAscii = false;
  std::optional<std::string> indent;
  std::string itemSeparator = ", ";
  std::string keySeparator = ": ";
  bool sortKeys = false;
};

uint32_t decodeChar(StringRef text, size_t pos, size_t length) {
  uint8_t lead = text[pos];
  if (length == 1)
    return lead < 0x80 ? lead : 0xFFFD;
  uint32_t codePoint = lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i)
    codePoint = (codePoint << 6) | (text[pos + i] & 0x3F);
  return codePoint;
}

void appendUnicodeEscape(uint32_t codeUnit, std::string &out) {
  char buffer[8];
  snprintf(buffer, sizeof(buffer), "\\u%04x", codeUnit);
  out += buffer;
}

/// Python's `json` string encoding: `ensureAscii` escapes everything
/// outside ' '..'~' (as UTF-16 code units); otherwise only quotes,
/// backslashes and control characters are escaped.
void writeJsonString(StringRef text, bool ensureAscii, std::string &out) {
  out += '"';
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    const char *shortEscape = c == '"'    ? "\\\""
                              : c == '\\' ? "\\\\"
                              : c == '\n' ? "\\n"
                              : c == '\r' ? "\\r"
                              : c == '\t' ? "\\t"
                              : c == '\b' ? "\\b"
                              : c == '\f' ? "\\f"
                                          : nullptr;
    size_t length = charLength(text, i);
    if (shortEscape) {
      out += shortEscape;
    } else if (uint8_t(c) < 0x20 || (ensureAscii && uint8_t(c) >= 0x7F)) {
      uint32_t codePoint = decodeChar(text, i, length);
      if (codePoint > 0xFFFF) {
        codePoint -= 0x10000;
        appendUnicodeEscape(0xD800 | (codePoint >> 10), out);
        appendUnicodeEscape(0xDC00 | (codePoint & 0x3FF), out);
      } else {
        appendUnicodeEscape(codePoint, out);
      }
    } else {
      out += text.substr(i, length);
    }
    i += length;
  }
  out += '"';
}

Error writeJson(const Value &value, const JsonStyle &style, unsigned level,
                std::string &out) {
  if (level > 100)
    return makeError("value nested too deeply for tojson");
  auto newline = [&](unsigned depth) {
    if (!style.indent)
      return;
    out += '\n';
    for (unsigned i = 0; i < depth; ++i)
      out += *style.indent;
  };
  switch (value.getKind()) {
  case Value::Kind::None:
    out += "null";
    return Error::success();
  case Value::Kind::Bool:
    out += value.getBool() ? "true" : "false";
    return Error::success();
  case Value::Kind::Int:
    out += value.str();
    return Error::success();
  case Value::Kind::Float: {
    double number = value.getNumber();
    out += std::isnan(number)   ? "NaN"
           : std::isinf(number) ? (number > 0 ? "Infinity" : "-Infinity")
                                : value.str();
    return Error::success();
  }
  case Value::Kind::String:
    writeJsonString(value.getString(), style.ensureAscii, out);
    return Error::success();
  case Value::Kind::List: {
    if (value.getItems().empty()) {
      out += "[]";
      return Error::success();
    }
    out += '[';
    for (const Value &item : value.getItems()) {
      if (&item != value.getItems().begin())
        out += style.itemSeparator;
      newline(level + 1);
      if (Error error = writeJson(item, style, level + 1, out))
        return error;
    }
    newline(level);
    out += ']';
    return Error::success();
  }
  case Value::Kind::Dict: {
    if (value.isNamespace())
      break;
    if (value.getEntries().empty()) {
      out += "{}";
      return Error::success();
    }
    std::vector<const std::pair<std::string, Value> *> entries;
    for (const auto &entry : value.getEntries())
      entries.push_back(&entry);
    // Keys are unique, so any sort is stable.
    if (style.sortKeys)
      llvm::sort(entries, [](const auto *a, const auto *b) {
        return a->first < b->first;
      });
    out += '{';
    for (const auto *entry : entries) {
      if (entry != entries.front())
        out += style.itemSeparator;
      newline(level + 1);
      writeJsonString(entry->first, style.ensureAscii, out);
      out += style.keySeparator;
      if (Error error = writeJson(entry->second, style, level + 1, out))
        return error;
    }
    newline(level);
    out += '}';
    return Error::success();
  }
  case Value::Kind::Undefined:
  case Value::Kind::Function:
    break;
  }
  return makeError("Object of type " + value.typeName() +
                   " is not JSON serializable");
}

//===----------------------------------------------------------------------===//
// Filters
//===----------------------------------------------------------------------===//

/// `item.a.0.b` as jinja2's `make_attrgetter`: each part an item lookup,
/// numeric parts as integers.
Expected<Value> getAttributePath(const Value &item, const Value &path) {
  if (path.isInt())
    return getItem(item, path);
  Expected<std::string> text = requireString(path, "attribute");
  if (!text)
    return text.takeError();
  SmallVector<StringRef> parts;
  StringRef(*text).split(parts, '.');
  Value current = item;
  for (StringRef part : parts) {
    int64_t index;
    Expected<Value> next = !part.getAsInteger(10, index)
                               ? getItem(current, Value(index))
                               : getItem(current, Value(part));
    if (!next)
      return next.takeError();
    current = std::move(*next);
  }
  return current;
}

/// The key `sort` compares: the item or its attribute, lower-cased unless
/// `caseSensitive`.
Expected<Value> sortKey(const Value &item, const Value &attribute,
                        bool caseSensitive) {
  Value key = item;
  if (!attribute.isUndefined() && !attribute.isNone()) {
    Expected<Value> value = getAttributePath(item, attribute);
    if (!value)
      return value.takeError();
    key = std::move(*value);
  }
  if (key.isString() && !caseSensitive)
    return Value(StringRef(key.getString()).lower());
  return key;
}

Expected<Value> filterCapitalize(const Value &subject, const CallArgs &args) {
  return Value(capitalize(subject.str()));
}

Expected<Value> filterDefault(const Value &subject, const CallArgs &args) {
  Expected<Params> params =
      Params::bind("default", args, {"default_value", "boolean"});
  if (!params)
    return params.takeError();
  if (subject.isUndefined() || ((*params)[1].isTruthy() && !subject.isTruthy()))
    return params->has(0) ? (*params)[0] : Value("");
  return subject;
}

Expected<Value> filterFirst(const Value &subject, const CallArgs &args) {
  Expected<std::vector<Value>> items = iterate(subject);
  if (!items)
    return items.takeError();
  if (items->empty())
    return Value::undefined("No first item, sequence was empty.");
  return items->front();
}

Expected<Value> filterLast(const Value &subject, const CallArgs &args) {
  Expected<std::vector<Value>> items = iterate(subject);
  if (!items)
    return items.takeError();
  if (items->empty())
    return Value::undefined("No last item, sequence was empty.");
  return items->back();
}

Expected<Value> filterFloat(const Value &subject, const CallArgs &args) {
  Expected<Params> params = Params::bind("float", args, {"default"});
  if (!params)
    return params.takeError();
  if (subject.isUndefined())
    return undefinedError(subject);
  if (subject.isNumber())
    return Value(subject.getNumber());
  if (subject.isString())
    if (std::optional<double> value = parseFloat(subject.getString()))
      return Value(*value);
  return params->has(0) ? (*params)[0] : Value(0.0);
}

Expected<Value> filterInt(const Value &subject, const CallArgs &args) {
  Expected<Params> params = Params::bind("int", args, {"default", "base"});
  if (!params)
    return params.takeError();
  if (subject.isUndefined())
    return undefinedError(subject);
  if (subject.isInt() || subject.isBool())
    return Value(subject.getInt());
  std::optional<double> number;
  if (subject.isFloat()) {
    number = subject.getNumber();
  } else if (subject.isString()) {
    // As Jinja: "42.23"|int is 42.
    if (std::optional<int64_t> value = parseInt(subject.getString()))
      return Value(*value);
    number = parseFloat(subject.getString());
  }
  if (number && std::isfinite(*number) && std::fabs(*number) < 9.2e18)
    return Value(int64_t(*number));
  return params->has(0) ? (*params)[0] : Value(0);
}

Expected<Value> filterIndent(const Value &subject, const CallArgs &args) {
  Expected<Params> params =
      Params::bind("indent", args, {"width", "first", "blank"});
  if (!params)
    return params.takeError();
  std::string indentation;
  if ((*params)[0].isString()) {
    indentation = (*params)[0].getString();
  } else {
    Expected<int64_t> width = params->getInt(0, 4, "indent width");
    if (!width)
      return width.takeError();
    indentation = std::string(std::clamp<int64_t>(*width, 0, 4096), ' ');
  }
  if (subject.isUndefined())
    return undefinedError(subject);
  if (!subject.isString())
    return makeError("indent needs a string, not '" + subject.typeName() + "'");
  // Python's str.splitlines on the text plus "\n", as Jinja 3.1.
  std::string text = subject.getString() + "\n";
  std::vector<std::string> lines(1);
  for (size_t i = 0; i < text.size(); ++i) {
    if (!StringRef("\n\r\v\f\x1c\x1d\x1e").contains(text[i])) {
      lines.back() += text[i];
      continue;
    }
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
      ++i;
    lines.emplace_back();
  }
  lines.pop_back();
  bool blank = (*params)[2].isTruthy();
  std::string out;
  for (auto [i, line] : enumerate(lines)) {
    if (i > 0)
      out += '\n';
    if (i > 0 && (blank || !line.empty()))
      out += indentation;
    out += line;
  }
  if ((*params)[1].isTruthy())
    out = indentation + out;
  return Value(std::move(out));
}

Expected<Value> filterItems(const Value &subject, const CallArgs &args) {
  if (subject.isUndefined())
    return Value::list();
  if (!subject.isDict() || subject.isNamespace())
    return makeError("Can only get item pairs from a mapping.");
  std::vector<Value> items;
  for (const auto &[key, value] : subject.getEntries())
    items.push_back(Value::tuple({Value(key), value}));
  return Value::list(std::move(items));
}

Expected<Value> filterJoin(const Value &subject, const CallArgs &args) {
  Expected<Params> params = Params::bind("join", args, {"d", "attribute"});
  if (!params)
    return params.takeError();
  Expected<std::vector<Value>> items = iterate(subject);
  if (!items)
    return items.takeError();
  std::string out;
  for (auto [i, item] : enumerate(*items)) {
    if (i > 0)
      out += (*params)[0].str();
    if (!params->has(1)) {
      out += item.str();
      continue;
    }
    Expected<Value> value = getAttributePath(item, (*params)[1]);
    if (!value)
      return value.takeError();
    out += value->str();
  }
  return Value(std::move(out));
}

Expected<Value> filterLength(const Value &subject, const CallArgs &args) {
  Expected<int64_t> size = length(subject);
  if (!size)
    return size.takeError();
  return Value(*size);
}

Expected<Value> filterList(const Value &subject, const CallArgs &args) {
  Expected<std::vector<Value>> items = iterate(subject);
  if (!items)
    return items.takeError();
  return Value::list(std::move(*items));
}

Expected<Value> filterLower(const Value &subject, const CallArgs &args) {
  return Value(StringRef(subject.str()).lower());
}

Expected<Value> filterUpper(const Value &subject, const CallArgs &args) {
  return Value(StringRef(subject.str()).upper());
}

Expected<Value> filterMap(const Value &subject, const CallArgs &args) {
  Expected<std::vector<Value>> items = iterate(subject);
  if (!items)
    return items.takeError();
  std::vector<Value> mapped;
  if (args.positional.empty()) {
    Expected<Params> params =
        Params::bind("map", args, {"attribute", "default"});
    if (!params)
      return params.takeError();
    if (!params->has(0))
      return makeError("map() needs a filter name or attribute=");
    for (const Value &item : *items) {
      Expected<Value> value = getAttributePath(item, (*params)[0]);
      if (!value)
        return value.takeError();
      mapped.push_back(value->isUndefined() && params->has(1) ? (*params)[1]
                                                              : *value);
    }
    return Value::list(std::move(mapped));
  }
  Expected<std::string> name = requireString(args.positional[0], "map filter");
  if (!name)
    return name.takeError();
  Builtin filter = lookupFilter(*name);
  if (!filter)
    return makeError("unknown filter '" + *name + "'");
  CallArgs rest{{args.positional.begin() + 1, args.positional.end()},
                args.keyword};
  for (const Value &item : *items) {
    Expected<Value> value = filter(item, rest);
    if (!value)
      return value.takeError();
    mapped.push_back(std::move(*value));
  }
  return Value::list(std::move(mapped));
}

/// `select`, `reject`, `selectattr` and `rejectattr`: the items whose
/// value (the item, or its attribute for `byAttribute`) passes the test
/// (truthiness when none is named), or fails it for `reject`.
Expected<Value> selectItems(const Value &subject, const CallArgs &args,
                            bool byAttribute, bool reject) {
  Expected<std::vector<Value>> items = iterate(subject);
  if (!items)
    return items.takeError();
  ArrayRef<Value> positional = args.positional;
  Value attribute;
  if (byAttribute) {
    if (positional.empty())
      return makeError("selectattr() needs an attribute name");
    attribute = positional.front();
    positional = positional.drop_front();
  }
  Builtin test = nullptr;
  if (!positional.empty()) {
    Expected<std::string> name = requireString(positional.front(), "test");
    if (!name)
      return name.takeError();
    test = lookupTest(*name);
    if (!test)
      return makeError("unknown test '" + *name + "'");
    positional = positional.drop_front();
  }
  CallArgs testArgs{positional.vec(), args.keyword};
  std::vector<Value> selected;
  for (const Value &item : *items) {
    Expected<Value> value =
        byAttribute ? getAttributePath(item, attribute) : Expected<Value>(item);
    if (!value)
      return value.takeError();
    bool passes = value->isTruthy();
    if (test) {
      Expected<Value> result = test(*value, testArgs);
      if (!result)
        return result.takeError();
      passes = result->isTruthy();
    }
    if (passes != reject)
      selected.push_back(item);
  }
  return Value::list(std::move(selected));
}

Expected<Value> filterSelect(const Value &subject, const CallArgs &args) {
  return selectItems(subject, args, /*byAttribute=*/false, /*reject=*/false);
}
Expected<Value> filterReject(const Value &subject, const CallArgs &args) {
  return selectItems(subject, args, /*byAttribute=*/false, /*reject=*/true);
}
Expected<Value> filterSelectAttr(const Value &subject, const CallArgs &args) {
  return selectItems(subject, args, /*byAttribute=*/true, /*reject=*/false);
}
Expected<Value> filterRejectAttr(const Value &subject, const CallArgs &args) {
  return selectItems(subject, args, /*byAttribute=*/true, /*reject=*/true);
}

Expected<Value> filterReplace(const Value &subject, const CallArgs &args) {
  Expected<Params> params =
      Params::bind("replace", args, {"old", "new", "count"});
  if (!params)
    return params.takeError();
  Expected<int64_t> count = params->getInt(2, -1, "replace count");
  if (!count)
    return count.takeError();
  return Value(
      replace(subject.str(), (*params)[0].str(), (*params)[1].str(), *count));
}

Expected<Value> filterReverse(const Value &subject, const CallArgs &args) {
  Expected<std::vector<Value>> items = iterate(subject);
  if (!items)
    return items.takeError();
  std::reverse(items->begin(), items->end());
  if (!subject.isString())
    return Value::list(std::move(*items));
  std::string out;
  for (const Value &c : *items)
    out += c.getString();
  return Value(std::move(out));
}

/// Python's stable sort of (key, item) pairs by key, where comparing two
/// keys may fail (then the sort does). A merge sort: unlike std::sort it
/// stays in bounds whatever the comparison answers.
Error mergeSort(std::vector<std::pair<Value, Value>> &items, bool reverse) {
  std::vector<std::pair<Value, Value>> merged(items.size());
  for (size_t width = 1; width < items.size(); width *= 2) {
    for (size_t begin = 0; begin < items.size(); begin += 2 * width) {
      size_t middle = std::min(begin + width, items.size());
      size_t end = std::min(begin + 2 * width, items.size());
      size_t left = begin, right = middle, to = begin;
      while (left < middle && right < end) {
        // Equal keys keep their order, also when reversed (as Python).
        Expected<bool> rightFirst =
            reverse ? lessThan(items[left].first, items[right].first)
                    : lessThan(items[right].first, items[left].first);
        if (!rightFirst)
          return rightFirst.takeError();
        merged[to++] = *rightFirst ? items[right++] : items[left++];
      }
      while (left < middle)
        merged[to++] = items[left++];
      while (right < end)
        merged[to++] = items[right++];
    }
    std::swap(items, merged);
  }
  return Error::success();
}

Expected<Value> filterSort(const Value &subject, const CallArgs &args) {
  Expected<Params> params =
      Params::bind("sort", args, {"reverse", "case_sensitive", "attribute"});
  if (!params)
    return params.takeError();
  Expected<std::vector<Value>> items = iterate(subject);
  if (!items)
    return items.takeError();
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value &item : *items) {
    Expected<Value> key = sortKey(item, (*params)[2], (*params)[1].isTruthy());
    if (!key)
      return key.takeError();
    keyed.emplace_back(std::move(*key), item);
  }
  if (Error error = mergeSort(keyed, (*params)[0].isTruthy()))
    return std::move(error);
  std::vector<Value> sorted;
  for (auto &entry : keyed)
    sorted.push_back(std::move(entry.second));
  return Value::list(std::move(sorted));
}

/// Jinja's `Markup(value)`: a string.
Expected<Value> filterSafe(const Value &subject, const CallArgs &args) {
  return Value(subject.str());
}

Expected<Value> filterString(const Value &subject, const CallArgs &args) {
  return Value(subject.str());
}

Expected<Value> filterTitle(const Value &subject, const CallArgs &args) {
  return Value(jinjaTitle(subject.str()));
}

Expected<Value> filterToJson(const Value &subject, const CallArgs &args) {
  // transformers' signature: tojson(x, ensure_ascii=False, indent=None,
  // separators=None, sort_keys=False).
  Expected<Params> params = Params::bind(
      "tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  if (!params)
    return params.takeError();
  JsonStyle style;
  style.ensureAscii = (*params)[0].isTruthy();
  const Value &indent = (*params)[1];
  if (indent.isString()) {
    style.indent = indent.getString();
  } else if (indent.isInt() || indent.isBool()) {
    style.indent =
        std::string(std::clamp<int64_t>(indent.getInt(), 0, 4096), ' ');
  } else if (!indent.isUndefined() && !indent.isNone()) {
    return makeError("tojson indent must be an integer or a string");
  }
  if (style.indent)
    style.itemSeparator = ",";
  const Value &separators = (*params)[2];
  if (!separators.isUndefined() && !separators.isNone()) {
    if (!separators.isList() || separators.getItems().size() != 2 ||
        !separators.getItems()[0].isString() ||
        !separators.getItems()[1].isString())
      return makeError("tojson separators must be two strings");
    style.itemSeparator = separators.getItems()[0].getString();
    style.keySeparator = separators.getItems()[1].getString();
  }
  style.sortKeys = (*params)[3].isTruthy();
  std::string out;
  if (Error error = writeJson(subject, style, 0, out))
    return std::move(error);
  return Value(std::move(out));
}

Expected<Value> filterTrim(const Value &subject, const CallArgs &args) {
  Expected<Params> params = Params::bind("trim", args, {"chars"});
  if (!params)
    return params.takeError();
  Expected<std::string> text = strip(subject.str(), (*params)[0], true, true);
  if (!text)
    return text.takeError();
  return Value(std::move(*text));
}

} // namespace

Builtin lookupFilter(StringRef name) {
  return StringSwitch<Builtin>(name)
      .Case("capitalize", filterCapitalize)
      .Cases({"count", "length"}, filterLength)
      .Cases({"d", "default"}, filterDefault)
      .Case("first", filterFirst)
      .Case("float", filterFloat)
      .Case("indent", filterIndent)
      .Case("int", filterInt)
      .Case("items", filterItems)
      .Case("join", filterJoin)
      .Case("last", filterLast)
      .Case("list", filterList)
      .Case("lower", filterLower)
      .Case("map", filterMap)
      .Case("reject", filterReject)
      .Case("rejectattr", filterRejectAttr)
      .Case("replace", filterReplace)
      .Case("reverse", filterReverse)
      .Case("safe", filterSafe)
      .Case("select", filterSelect)
      .Case("selectattr", filterSelectAttr)
      .Case("sort", filterSort)
      .Case("string", filterString)
      .Case("title", filterTitle)
      .Case("tojson", filterToJson)
      .Case("trim", filterTrim)
      .Case("upper", filterUpper)
      .Default(nullptr);
}

} // namespace detail
} // namespace jinja
} // namespace loom
