//===- ChatTemplateLexer.cpp - Jinja lexer --------------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The lexer follows jinja2/lexer.py rule for rule, because whitespace
// control decides the bytes of a prompt: `{%-`/`-%}` strip all whitespace on
// that side, `+` turns trim_blocks/lstrip_blocks off for that tag,
// trim_blocks drops one newline after `%}` and `#}` (never after `}}`), and
// lstrip_blocks drops the spaces before `{%` and `{#` when only spaces
// precede them on their line. Inside tags, `}}` and `%}` end the tag only
// outside brackets, so `{{ {'a': {'b': 1}} }}` lexes as Jinja lexes it.
//
//===----------------------------------------------------------------------===//

#include "ChatTemplateImpl.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/ConvertUTF.h"

#include <cstdlib>

using namespace llvm;

namespace loom {
namespace jinja {
namespace detail {

std::string formatLocation(StringRef source, size_t offset) {
  offset = std::min(offset, source.size());
  StringRef before = source.take_front(offset);
  size_t line = before.count('\n') + 1;
  size_t lineStart = before.rfind('\n');
  size_t column =
      lineStart == StringRef::npos ? offset + 1 : offset - lineStart;
  return std::to_string(line) + ":" + std::to_string(column);
}

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isNameStart(char c) { return isAlpha(c) || c == '_'; }
bool isNameChar(char c) { return isAlnum(c) || c == '_'; }
/// The whitespace-control marks after `{%` or before `%}`.
bool isSign(char c) { return c == '-' || c == '+'; }

void appendUtf8(std::string &out, uint32_t codePoint) {
  // Lone surrogates cannot be encoded; Python would fail later, when the
  // prompt is encoded.
  if ((codePoint >= 0xD800 && codePoint <= 0xDFFF) || codePoint > 0x10FFFF)
    codePoint = 0xFFFD;
  char buffer[UNI_MAX_UTF8_BYTES_PER_CODE_POINT];
  char *end = buffer;
  ConvertCodePointToUTF8(codePoint, end);
  out.append(buffer, end);
}

/// Decodes a string literal's body as Jinja does (Python's
/// `unicode-escape`): \n \t \\ \' \xHH \uHHHH \UHHHHHHHH \ooo and friends;
/// an unknown escape keeps its backslash.
Expected<std::string> decodeEscapes(StringRef body) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 == body.size()) {
      out += c;
      continue;
    }
    char e = body[++i];
    switch (e) {
    case '\n':
      break;
    case '\\':
    case '\'':
    case '"':
      out += e;
      break;
    case 'a':
      out += '\a';
      break;
    case 'b':
      out += '\b';
      break;
    case 'f':
      out += '\f';
      break;
    case 'n':
      out += '\n';
      break;
    case 'r':
      out += '\r';
      break;
    case 't':
      out += '\t';
      break;
    case 'v':
      out += '\v';
      break;
    case 'x':
    case 'u':
    case 'U': {
      size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
      StringRef hex = body.substr(i + 1, digits);
      uint32_t codePoint;
      if (hex.size() != digits || !all_of(hex, isHexDigit) ||
          hex.getAsInteger(16, codePoint))
        return makeError(Twine("truncated \\") + StringRef(&e, 1) +
                         " escape in a string literal");
      appendUtf8(out, codePoint);
      i += digits;
      break;
    }
    default:
      if (e >= '0' && e <= '7') {
        uint32_t codePoint = 0;
        size_t end = i;
        while (end < body.size() && end < i + 3 && body[end] >= '0' &&
               body[end] <= '7')
          codePoint = codePoint * 8 + (body[end++] - '0');
        appendUtf8(out, codePoint);
        i = end - 1;
        break;
      }
      out += '\\';
      out += e;
    }
  }
  return out;
}

class Lexer {
public:
  explicit Lexer(StringRef source) : source(source) {}

  Expected<std::vector<Token>> lex();

private:
  Error fail(size_t offset, const Twine &message) {
    return makeError(formatLocation(source, offset) + ": " + message);
  }
  bool startsWith(size_t pos, StringRef text) const {
    return source.substr(pos).starts_with(text);
  }
  size_t skipSpaces(size_t pos) const {
    while (size_t length = spaceAt(source, pos))
      pos += length;
    return pos;
  }

  /// The text before a tag after whitespace control: `sign` is the `-` or
  /// `+` right after the tag's opening, or 0.
  StringRef stripBeforeTag(StringRef text, char sign, bool isVariable) const;
  void addData(size_t offset, StringRef text) {
    if (!text.empty())
      tokens.push_back({TokenKind::Data, offset, text.str()});
  }
  /// Moves past a tag's closing delimiter, which ends at `end`: `-` (just
  /// before it) also eats the whitespace after it; otherwise a block or
  /// comment without `+` eats one newline (trim_blocks).
  void finishTag(size_t end, char sign, bool isBlock);

  Error lexComment(size_t tagStart, size_t bodyStart);
  Error lexTag(size_t tagStart, size_t bodyStart, bool isBlock);
  /// `{% raw %}`'s end when one starts at `tagStart`.
  std::optional<size_t> matchRawBegin(size_t tagStart) const;
  Error lexRaw(size_t tagStart, size_t bodyStart);
  Error lexNumber();
  Error lexString();

  StringRef source;
  size_t pos = 0;
  /// Whether the last thing lexed ended a line: lstrip_blocks then applies
  /// to the first line of the next text, as on any other line.
  bool lineStarting = true;
  std::vector<Token> tokens;
};

Expected<std::vector<Token>> Lexer::lex() {
  while (pos < source.size()) {
    size_t tag = pos;
    while ((tag = source.find('{', tag)) != StringRef::npos &&
           (tag + 1 == source.size() ||
            !StringRef("{%#").contains(source[tag + 1])))
      ++tag;
    if (tag == StringRef::npos) {
      addData(pos, source.substr(pos));
      break;
    }
    char opener = source[tag + 1];
    char sign = tag + 2 < source.size() && isSign(source[tag + 2])
                    ? source[tag + 2]
                    : 0;
    std::optional<size_t> rawEnd =
        opener == '%' ? matchRawBegin(tag) : std::nullopt;
    addData(pos, stripBeforeTag(source.slice(pos, tag), sign, opener == '{'));
    size_t bodyStart = tag + 2 + (sign ? 1 : 0);
    Error error = rawEnd          ? lexRaw(tag, *rawEnd)
                  : opener == '#' ? lexComment(tag, bodyStart)
                                  : lexTag(tag, bodyStart, opener == '%');
    if (error)
      return std::move(error);
  }
  tokens.push_back({TokenKind::End, source.size(), ""});
  return std::move(tokens);
}

StringRef Lexer::stripBeforeTag(StringRef text, char sign,
                                bool isVariable) const {
  if (sign == '-')
    return stripSpaces(text, /*left=*/false);
  if (sign == '+' || isVariable)
    return text;
  size_t lineStart = text.rfind('\n');
  lineStart = lineStart == StringRef::npos ? 0 : lineStart + 1;
  if (lineStart == 0 && !lineStarting)
    return text;
  StringRef lastLine = text.substr(lineStart);
  if (!lastLine.empty() && stripSpaces(lastLine).empty())
    return text.take_front(lineStart);
  return text;
}

void Lexer::finishTag(size_t end, char sign, bool isBlock) {
  pos = end;
  if (sign == '-')
    pos = skipSpaces(pos);
  else if (sign != '+' && isBlock && pos < source.size() && source[pos] == '\n')
    ++pos;
  lineStarting = source[pos - 1] == '\n';
}

Error Lexer::lexComment(size_t tagStart, size_t bodyStart) {
  size_t close = source.find("#}", bodyStart);
  if (close == StringRef::npos)
    return fail(tagStart, "unclosed comment: missing '#}'");
  char sign =
      close > bodyStart && isSign(source[close - 1]) ? source[close - 1] : 0;
  finishTag(close + 2, sign, /*isBlock=*/true);
  return Error::success();
}

std::optional<size_t> Lexer::matchRawBegin(size_t tagStart) const {
  size_t p = tagStart + 2;
  if (p < source.size() && isSign(source[p]))
    ++p;
  p = skipSpaces(p);
  if (!startsWith(p, "raw"))
    return std::nullopt;
  p = skipSpaces(p + 3);
  if (startsWith(p, "-%}"))
    return skipSpaces(p + 3);
  if (startsWith(p, "%}"))
    return p + 2;
  return std::nullopt;
}

Error Lexer::lexRaw(size_t tagStart, size_t bodyStart) {
  lineStarting = source[bodyStart - 1] == '\n';
  for (size_t open = bodyStart;
       (open = source.find("{%", open)) != StringRef::npos; ++open) {
    size_t p = open + 2;
    char sign = p < source.size() && isSign(source[p]) ? source[p] : 0;
    p = skipSpaces(p + (sign ? 1 : 0));
    if (!startsWith(p, "endraw"))
      continue;
    p = skipSpaces(p + 6);
    char closeSign = 0;
    if (startsWith(p, "-%}") || startsWith(p, "+%}"))
      closeSign = source[p++];
    if (!startsWith(p, "%}"))
      continue;
    addData(bodyStart, stripBeforeTag(source.slice(bodyStart, open), sign,
                                      /*isVariable=*/false));
    finishTag(p + 2, closeSign, /*isBlock=*/true);
    return Error::success();
  }
  return fail(tagStart, "unclosed 'raw' block: missing '{% endraw %}'");
}

Error Lexer::lexTag(size_t tagStart, size_t bodyStart, bool isBlock) {
  tokens.push_back(
      {isBlock ? TokenKind::BlockBegin : TokenKind::VarBegin, tagStart, ""});
  pos = bodyStart;
  // Open brackets: inside them `}}` and `%}` are brackets, not the end.
  SmallVector<char> brackets;
  static const char *const operators[] = {
      "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
      "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};
  for (;;) {
    if (pos >= source.size())
      return fail(tagStart, isBlock ? "unclosed tag: missing '%}'"
                                    : "unclosed tag: missing '}}'");
    if (brackets.empty()) {
      StringRef close = isBlock ? "%}" : "}}";
      char sign = 0;
      if (startsWith(pos, "-") || (isBlock && startsWith(pos, "+")))
        sign = startsWith(pos + 1, close) ? source[pos] : 0;
      if (sign || startsWith(pos, close)) {
        tokens.push_back(
            {isBlock ? TokenKind::BlockEnd : TokenKind::VarEnd, pos, ""});
        finishTag(pos + (sign ? 1 : 0) + 2, sign, isBlock);
        return Error::success();
      }
    }
    char c = source[pos];
    if (size_t length = spaceAt(source, pos)) {
      pos += length;
    } else if (isDigit(c)) {
      if (Error error = lexNumber())
        return error;
    } else if (isNameStart(c)) {
      size_t end = pos;
      while (end < source.size() && isNameChar(source[end]))
        ++end;
      tokens.push_back({TokenKind::Name, pos, source.slice(pos, end).str()});
      pos = end;
    } else if (c == '\'' || c == '"') {
      if (Error error = lexString())
        return error;
    } else {
      const char *const *op = find_if(
          operators, [&](const char *op) { return startsWith(pos, op); });
      if (op == std::end(operators))
        return fail(pos, "unexpected character '" +
                             source.substr(pos, getNumBytesForUTF8(c)) + "'");
      StringRef spelling = *op;
      if (StringRef("([{").contains(c)) {
        brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      } else if (StringRef(")]}").contains(c)) {
        if (brackets.empty())
          return fail(pos, "unexpected '" + spelling + "'");
        if (brackets.back() != c)
          return fail(pos, "unexpected '" + spelling + "', expected '" +
                               StringRef(&brackets.back(), 1) + "'");
        brackets.pop_back();
      }
      tokens.push_back({TokenKind::Operator, pos, spelling.str()});
      pos += spelling.size();
    }
  }
}

Error Lexer::lexNumber() {
  size_t start = pos;
  auto digits = [&] {
    while (pos < source.size() &&
           (isDigit(source[pos]) ||
            (source[pos] == '_' && pos + 1 < source.size() &&
             isDigit(source[pos + 1]))))
      ++pos;
  };
  digits();
  // As Jinja's float rule: not right after a '.', so `x.0.1` is two
  // subscripts.
  bool isFloat = false;
  if (start == 0 || source[start - 1] != '.') {
    if (startsWith(pos, ".") && pos + 1 < source.size() &&
        isDigit(source[pos + 1])) {
      ++pos;
      digits();
      isFloat = true;
    }
    if (pos < source.size() && (source[pos] == 'e' || source[pos] == 'E')) {
      size_t p = pos + 1;
      if (p < source.size() && (source[p] == '+' || source[p] == '-'))
        ++p;
      if (p < source.size() && isDigit(source[p])) {
        pos = p;
        digits();
        isFloat = true;
      }
    }
  }
  std::string spelling = source.slice(start, pos).str();
  std::string digitsOnly = spelling;
  llvm::erase(digitsOnly, '_');
  Token token{isFloat ? TokenKind::Float : TokenKind::Integer, start, spelling};
  if (isFloat)
    token.floatValue = std::strtod(digitsOnly.c_str(), nullptr);
  else if (StringRef(digitsOnly).getAsInteger(10, token.intValue))
    return fail(start, "integer literal '" + spelling + "' is too large");
  tokens.push_back(std::move(token));
  return Error::success();
}

Error Lexer::lexString() {
  size_t start = pos;
  char quote = source[pos++];
  while (pos < source.size() && source[pos] != quote)
    pos += source[pos] == '\\' ? 2 : 1;
  if (pos >= source.size())
    return fail(start, "unterminated string literal");
  Expected<std::string> value = decodeEscapes(source.slice(start + 1, pos++));
  if (!value)
    return fail(start, toString(value.takeError()));
  tokens.push_back({TokenKind::String, start, std::move(*value)});
  return Error::success();
}

} // namespace

Expected<std::vector<Token>> lexTemplate(StringRef source) {
  return Lexer(source).lex();
}

} // namespace detail
} // namespace jinja
} // namespace loom
