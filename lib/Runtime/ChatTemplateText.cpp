//===- ChatTemplateText.cpp - Python string functions for Jinja -----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The string operations of Python that filters and methods are built from,
// on UTF-8: whitespace is what `str.isspace` accepts (Unicode spaces too),
// lengths, indices and `replace('', x)` count code points, and `split()`,
// `strip()`, `title()` and `int()` follow CPython's rules. Case mapping
// changes ASCII letters only.
//
//===----------------------------------------------------------------------===//

#include "ChatTemplateImpl.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/ConvertUTF.h"

#include <cmath>

using namespace llvm;

namespace loom {
namespace jinja {
namespace detail {

//===----------------------------------------------------------------------===//
// Characters
//===----------------------------------------------------------------------===//

size_t spaceAt(StringRef text, size_t pos) {
  if (pos >= text.size())
    return 0;
  uint8_t c = text[pos];
  if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f))
    return 1;
  if (c < 0x80)
    return 0;
  // The other characters Python's str.isspace accepts: U+0085, U+00A0,
  // U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
  StringRef rest = text.substr(pos);
  if (rest.starts_with("\xC2\x85") || rest.starts_with("\xC2\xA0"))
    return 2;
  if (rest.size() < 3)
    return 0;
  uint8_t b1 = rest[1], b2 = rest[2];
  if ((c == 0xE1 && b1 == 0x9A && b2 == 0x80) ||
      (c == 0xE2 && b1 == 0x80 &&
       (b2 <= 0x8A || b2 == 0xA8 || b2 == 0xA9 || b2 == 0xAF)) ||
      (c == 0xE2 && b1 == 0x81 && b2 == 0x9F) ||
      (c == 0xE3 && b1 == 0x80 && b2 == 0x80))
    return 3;
  return 0;
}

size_t spaceBefore(StringRef text, size_t end) {
  for (size_t length = 1; length <= 3 && length <= end; ++length)
    if (spaceAt(text, end - length) == length)
      return length;
  return 0;
}

StringRef stripSpaces(StringRef text, bool left, bool right) {
  size_t begin = 0, end = text.size();
  while (left && begin < end)
    if (size_t length = spaceAt(text, begin))
      begin += length;
    else
      break;
  while (right && end > begin)
    if (size_t length = spaceBefore(text, end))
      end -= length;
    else
      break;
  return text.slice(begin, end);
}

size_t charLength(StringRef text, size_t pos) {
  size_t length = getNumBytesForUTF8(text[pos]);
  if (length < 1 || pos + length > text.size())
    return 1;
  for (size_t i = 1; i < length; ++i)
    if ((uint8_t(text[pos + i]) & 0xC0) != 0x80)
      return 1;
  return length;
}

std::vector<StringRef> splitChars(StringRef text) {
  std::vector<StringRef> chars;
  for (size_t pos = 0; pos < text.size();) {
    size_t length = charLength(text, pos);
    chars.push_back(text.substr(pos, length));
    pos += length;
  }
  return chars;
}

//===----------------------------------------------------------------------===//
// Strings
//===----------------------------------------------------------------------===//

Expected<std::string> requireString(const Value &value, StringRef what) {
  if (!value.isString())
    return makeError(what + " must be a string, not '" + value.typeName() +
                     "'");
  return value.getString();
}

/// Letters for Python's title casing: ASCII letters, and (approximately)
/// every non-ASCII character.
static bool isCased(char c) { return isAlpha(c) || uint8_t(c) >= 0x80; }

/// Python's `str.capitalize`.
std::string capitalize(StringRef text) {
  std::string out = text.lower();
  if (!out.empty())
    out[0] = toUpper(out[0]);
  return out;
}

/// Python's `str.title`: a letter after a non-letter is upper case, others
/// lower case.
std::string pythonTitle(StringRef text) {
  std::string out;
  bool previousCased = false;
  for (char c : text) {
    out += previousCased ? toLower(c) : toUpper(c);
    previousCased = isCased(c);
  }
  return out;
}

/// Jinja's `title` filter: each word after `-`, whitespace, `(`, `{`, `[`
/// or `<` gets an upper-case first letter and lower-case rest.
std::string jinjaTitle(StringRef text) {
  std::string out;
  bool wordStart = true;
  for (size_t i = 0; i < text.size(); ++i) {
    size_t space = spaceAt(text, i);
    if (space || StringRef("-({[<").contains(text[i])) {
      out += text.substr(i, std::max<size_t>(space, 1));
      i += std::max<size_t>(space, 1) - 1;
      wordStart = true;
      continue;
    }
    out += wordStart ? toUpper(text[i]) : toLower(text[i]);
    wordStart = false;
  }
  return out;
}

/// Python's `str.strip(chars)` (and `lstrip`, `rstrip`): whitespace when
/// `chars` is undefined or None, else any of its characters.
Expected<std::string> strip(StringRef text, const Value &chars, bool left,
                            bool right) {
  if (chars.isUndefined() || chars.isNone())
    return stripSpaces(text, left, right).str();
  Expected<std::string> set = requireString(chars, "strip chars");
  if (!set)
    return set.takeError();
  std::vector<StringRef> strippable = splitChars(*set);
  std::vector<StringRef> textChars = splitChars(text);
  size_t begin = 0, end = textChars.size();
  while (left && begin < end && is_contained(strippable, textChars[begin]))
    ++begin;
  while (right && end > begin && is_contained(strippable, textChars[end - 1]))
    --end;
  std::string out;
  for (size_t i = begin; i < end; ++i)
    out += textChars[i];
  return out;
}

/// Python's `str.replace(old, new, count)`; an empty `old` inserts `new`
/// before each character and at the end.
std::string replace(StringRef text, StringRef from, StringRef to,
                    int64_t count) {
  std::string out;
  if (from.empty()) {
    std::vector<StringRef> chars = splitChars(text);
    for (size_t i = 0; i <= chars.size(); ++i) {
      if (count < 0 || int64_t(i) < count)
        out += to;
      if (i < chars.size())
        out += chars[i];
    }
    return out;
  }
  size_t pos = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    size_t found = text.find(from, pos);
    if (found == StringRef::npos)
      break;
    out += text.slice(pos, found);
    out += to;
    pos = found + from.size();
  }
  out += text.substr(pos);
  return out;
}

/// Python's `str.split(sep, maxsplit)`; with no `sep`, on runs of
/// whitespace, ignoring it at the ends.
Expected<Value> split(StringRef text, const Value &separator,
                      int64_t maxSplit) {
  std::vector<Value> parts;
  if (separator.isUndefined() || separator.isNone()) {
    size_t pos = 0;
    for (;;) {
      while (size_t space = spaceAt(text, pos))
        pos += space;
      if (pos >= text.size())
        break;
      if (maxSplit >= 0 && int64_t(parts.size()) == maxSplit) {
        parts.emplace_back(stripSpaces(text.substr(pos), false, true));
        break;
      }
      size_t end = pos;
      while (end < text.size() && !spaceAt(text, end))
        end += charLength(text, end);
      parts.emplace_back(text.slice(pos, end));
      pos = end;
    }
    return Value::list(std::move(parts));
  }
  Expected<std::string> sep = requireString(separator, "split separator");
  if (!sep)
    return sep.takeError();
  if (sep->empty())
    return makeError("empty separator");
  size_t pos = 0;
  for (size_t found; (maxSplit < 0 || int64_t(parts.size()) < maxSplit) &&
                     (found = text.find(*sep, pos)) != StringRef::npos;
       pos = found + sep->size())
    parts.emplace_back(text.slice(pos, found));
  parts.emplace_back(text.substr(pos));
  return Value::list(std::move(parts));
}

/// Python's `int(text)`: optional sign, digits with single underscores,
/// surrounding whitespace.
std::optional<int64_t> parseInt(StringRef text) {
  text = stripSpaces(text);
  bool negative = text.consume_front("-");
  if (!negative)
    text.consume_front("+");
  if (text.empty() || text.front() == '_' || text.back() == '_' ||
      text.contains("__"))
    return std::nullopt;
  std::string digits = text.str();
  llvm::erase(digits, '_');
  uint64_t magnitude;
  if (!all_of(digits, isDigit) || StringRef(digits).getAsInteger(10, magnitude))
    return std::nullopt;
  if (magnitude > uint64_t(INT64_MAX) + negative)
    return std::nullopt;
  return negative ? int64_t(0 - magnitude) : int64_t(magnitude);
}

/// Python's `float(text)`.
std::optional<double> parseFloat(StringRef text) {
  text = stripSpaces(text);
  StringRef body = text;
  if (!body.consume_front("-"))
    body.consume_front("+");
  std::string lower = body.lower();
  if (lower == "inf" || lower == "infinity" || lower == "nan") {
    double value = lower == "nan" ? NAN : INFINITY;
    return text.starts_with("-") ? -value : value;
  }
  // Digits, an optional fraction, an optional exponent; nothing else.
  size_t pos = 0, digits = 0;
  auto scanDigits = [&] {
    size_t count = 0;
    while (pos < body.size() && (isDigit(body[pos]) || body[pos] == '_'))
      count += isDigit(body[pos++]);
    return count;
  };
  digits += scanDigits();
  if (pos < body.size() && body[pos] == '.') {
    ++pos;
    digits += scanDigits();
  }
  if (digits == 0)
    return std::nullopt;
  if (pos < body.size() && (body[pos] == 'e' || body[pos] == 'E')) {
    ++pos;
    if (pos < body.size() && (body[pos] == '+' || body[pos] == '-'))
      ++pos;
    if (scanDigits() == 0)
      return std::nullopt;
  }
  if (pos != body.size() || text.contains("__") || text.ends_with("_"))
    return std::nullopt;
  std::string clean = text.str();
  llvm::erase(clean, '_');
  return std::strtod(clean.c_str(), nullptr);
}

} // namespace detail
} // namespace jinja
} // namespace loom
