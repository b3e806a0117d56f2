//===- ChatTemplateParser.cpp - Jinja parser ------------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// jinja2/parser.py's grammar as a recursive descent over the lexer's
// tokens, with the same precedence: `~` binds tighter than `+`, filters and
// `is` tests tighter than any operator, `**` associates to the left, and
// `x is t y` takes `y` as the test's argument. The AST's depth and the
// parser's own nesting are bounded, so no source can overflow the stack.
//
//===----------------------------------------------------------------------===//

#include "ChatTemplateImpl.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/ScopeExit.h"

using namespace llvm;

namespace loom {
namespace jinja {
namespace detail {
namespace {

/// Deep enough for any real template, shallow enough that parsing, walking
/// and destroying the AST cannot overflow the stack.
constexpr unsigned kMaxExprDepth = 200;
constexpr unsigned kMaxParseNesting = 150;
constexpr unsigned kMaxBlockNesting = 100;

/// Counts nesting on entry and restores it on exit.
struct NestingGuard {
  NestingGuard(unsigned &depth) : depth(depth) { ++depth; }
  ~NestingGuard() { --depth; }
  unsigned &depth;
};

/// The operands of an expression, in order (null ones included).
template <typename... Exprs> std::vector<ExprPtr> operandList(Exprs... exprs) {
  std::vector<ExprPtr> operands;
  (operands.push_back(std::move(exprs)), ...);
  return operands;
}

ExprPtr makeLiteral(size_t offset, Value value) {
  auto expr = std::make_unique<Expr>(Expr::Literal, offset);
  expr->value = std::move(value);
  return expr;
}

class Parser {
public:
  Parser(StringRef source, std::vector<Token> tokens)
      : source(source), tokens(std::move(tokens)) {}

  Error parseTemplate(NodeList &nodes) { return parseBody(nodes, {}, "", 0); }

private:
  //===--- Tokens ---------------------------------------------------------===//

  const Token &peek(size_t ahead = 0) const {
    return tokens[std::min(current + ahead, tokens.size() - 1)];
  }
  const Token &next() {
    const Token &token = peek();
    if (current + 1 < tokens.size())
      ++current;
    return token;
  }
  bool isOp(StringRef op, size_t ahead = 0) const {
    const Token &token = peek(ahead);
    return token.kind == TokenKind::Operator && token.text == op;
  }
  bool isName(StringRef name, size_t ahead = 0) const {
    const Token &token = peek(ahead);
    return token.kind == TokenKind::Name && token.text == name;
  }
  bool skipOp(StringRef op) {
    if (!isOp(op))
      return false;
    next();
    return true;
  }
  bool skipName(StringRef name) {
    if (!isName(name))
      return false;
    next();
    return true;
  }

  Error fail(size_t offset, const Twine &message) const {
    return makeError(formatLocation(source, offset) + ": " + message);
  }
  static std::string describe(const Token &token) {
    switch (token.kind) {
    case TokenKind::Data:
      return "text";
    case TokenKind::VarBegin:
      return "'{{'";
    case TokenKind::VarEnd:
      return "'}}'";
    case TokenKind::BlockBegin:
      return "'{%'";
    case TokenKind::BlockEnd:
      return "'%}'";
    case TokenKind::String:
      return "a string";
    case TokenKind::End:
      return "the end of the template";
    case TokenKind::Name:
    case TokenKind::Integer:
    case TokenKind::Float:
    case TokenKind::Operator:
      return "'" + token.text + "'";
    }
    llvm_unreachable("unknown token kind");
  }
  Error unexpected(const Twine &expected) const {
    return fail(peek().offset,
                "unexpected " + describe(peek()) + ", expected " + expected);
  }
  Error expectOp(StringRef op) {
    if (skipOp(op))
      return Error::success();
    return unexpected("'" + op + "'");
  }
  Error expectName(StringRef name) {
    if (skipName(name))
      return Error::success();
    return unexpected("'" + name + "'");
  }
  Error expectBlockEnd() {
    if (peek().kind != TokenKind::BlockEnd)
      return unexpected("'%}'");
    next();
    return Error::success();
  }
  Expected<std::string> expectIdentifier() {
    if (peek().kind != TokenKind::Name)
      return unexpected("a name");
    return next().text;
  }

  //===--- Statements -----------------------------------------------------===//

  /// Parses statements into `nodes` up to a block tag named in `endTags`,
  /// leaving that name as the current token; to the end of the template
  /// when `endTags` is empty. `block` names the open block, which starts at
  /// `blockOffset`, for errors.
  Error parseBody(NodeList &nodes, ArrayRef<StringRef> endTags, StringRef block,
                  size_t blockOffset);
  Error parseStatement(NodeList &nodes);
  /// After a body: consumes its end tag (the current token) and the `%}`.
  Error finishBlock() {
    next();
    return expectBlockEnd();
  }
  Expected<NodePtr> parseFor(size_t offset);
  Expected<NodePtr> parseIf(size_t offset);
  Expected<NodePtr> parseSet(size_t offset);
  Expected<NodePtr> parseMacro(size_t offset);
  /// `name`, `a, b`, `(a, b)`, or with `attribute`, `ns.name`.
  Error parseAssignTarget(std::vector<std::string> &targets, bool &unpack,
                          std::string *attribute);

  //===--- Expressions ----------------------------------------------------===//

  /// An expression of `kind`; fails when the AST would get too deep.
  Expected<ExprPtr> build(Expr::Kind kind, size_t offset,
                          std::vector<ExprPtr> operands, std::string name = {});
  /// Appends `operand` to `node`, with the same check.
  Error addOperand(Expr &node, ExprPtr operand);
  /// `a, b` as a tuple, or one expression. `forIterable` stops before a
  /// `recursive`.
  Expected<ExprPtr> parseTuple(bool withConditional = true,
                               bool explicitParens = false,
                               bool forIterable = false);
  Expected<ExprPtr> parseExpression(bool withConditional = true) {
    return withConditional ? parseConditional() : parseOr();
  }
  Expected<ExprPtr> parseConditional();
  /// Left-associative operators `ops` (operator tokens, or the words `and`
  /// and `or`) between operands of `parseOperand`, as `kind` nodes that
  /// name their operator.
  Expected<ExprPtr>
  parseLeftAssociative(Expr::Kind kind, ArrayRef<StringRef> ops,
                       Expected<ExprPtr> (Parser::*parseOperand)());
  Expected<ExprPtr> parseOr() {
    return parseLeftAssociative(Expr::Or, {"or"}, &Parser::parseAnd);
  }
  Expected<ExprPtr> parseAnd() {
    return parseLeftAssociative(Expr::And, {"and"}, &Parser::parseNot);
  }
  Expected<ExprPtr> parseNot();
  Expected<ExprPtr> parseCompare();
  Expected<ExprPtr> parseMath1() {
    return parseLeftAssociative(Expr::Binary, {"+", "-"}, &Parser::parseConcat);
  }
  Expected<ExprPtr> parseConcat() {
    return parseLeftAssociative(Expr::Binary, {"~"}, &Parser::parseMath2);
  }
  Expected<ExprPtr> parseMath2() {
    return parseLeftAssociative(Expr::Binary, {"*", "/", "//", "%"},
                                &Parser::parsePow);
  }
  Expected<ExprPtr> parsePow() {
    return parseLeftAssociative(Expr::Binary, {"**"},
                                &Parser::parseUnaryWithFilters);
  }
  Expected<ExprPtr> parseUnaryWithFilters() { return parseUnary(true); }
  Expected<ExprPtr> parseUnary(bool withFilters);
  /// `-x` or `+x`.
  Expected<ExprPtr> parseSign();
  Expected<ExprPtr> parsePrimary();
  Expected<ExprPtr> parseSequence(Expr::Kind kind, StringRef close);
  Expected<ExprPtr> parsePostfix(ExprPtr node);
  Expected<ExprPtr> parseFilterExpr(ExprPtr node);
  Expected<ExprPtr> parseSubscript(ExprPtr node);
  Expected<ExprPtr> parseFilter(ExprPtr subject, size_t offset);
  Expected<ExprPtr> parseTest(ExprPtr subject, size_t offset);
  /// `(args, key=value)` appended to `node`'s operands.
  Error parseCallArgs(Expr &node);

  StringRef source;
  std::vector<Token> tokens;
  size_t current = 0;
  /// The end tags of the open blocks, innermost last, for errors.
  std::vector<std::pair<StringRef, StringRef>> openBlocks;
  unsigned loopDepth = 0;
  unsigned nesting = 0;
};

Error Parser::parseBody(NodeList &nodes, ArrayRef<StringRef> endTags,
                        StringRef block, size_t blockOffset) {
  if (!endTags.empty())
    openBlocks.push_back({block, endTags.back()});
  scope_exit popBlock([&] {
    if (!endTags.empty())
      openBlocks.pop_back();
  });
  for (;;) {
    const Token &token = peek();
    switch (token.kind) {
    case TokenKind::Data:
      nodes.push_back(std::make_unique<TextNode>(token.offset, token.text));
      next();
      break;
    case TokenKind::VarBegin: {
      next();
      Expected<ExprPtr> expr = parseTuple();
      if (!expr)
        return expr.takeError();
      if (peek().kind != TokenKind::VarEnd)
        return unexpected("'}}'");
      next();
      nodes.push_back(
          std::make_unique<OutputNode>(token.offset, std::move(*expr)));
      break;
    }
    case TokenKind::BlockBegin:
      if (peek(1).kind == TokenKind::Name &&
          is_contained(endTags, peek(1).text)) {
        next();
        return Error::success();
      }
      next();
      if (Error error = parseStatement(nodes))
        return error;
      break;
    case TokenKind::End:
      if (endTags.empty())
        return Error::success();
      return fail(blockOffset, "unclosed '" + block + "' block: missing '{% " +
                                   endTags.back() + " %}'");
    default:
      return unexpected("text or a tag");
    }
  }
}

Error Parser::parseStatement(NodeList &nodes) {
  // Statements are located at their `{%`, errors in the tag at its name.
  size_t offset = tokens[current - 1].offset;
  size_t tagOffset = peek().offset;
  Expected<std::string> tag = expectIdentifier();
  if (!tag)
    return tag.takeError();
  NestingGuard guard(nesting);
  if (nesting > kMaxBlockNesting)
    return fail(offset, "blocks nested too deeply");
  auto append = [&](Expected<NodePtr> node) -> Error {
    if (!node)
      return node.takeError();
    nodes.push_back(std::move(*node));
    return Error::success();
  };
  if (*tag == "for")
    return append(parseFor(offset));
  if (*tag == "if")
    return append(parseIf(offset));
  if (*tag == "set")
    return append(parseSet(offset));
  if (*tag == "macro")
    return append(parseMacro(offset));
  if (*tag == "break" || *tag == "continue") {
    if (loopDepth == 0)
      return fail(tagOffset, "'" + *tag + "' outside a loop");
    if (Error error = expectBlockEnd())
      return error;
    return append(std::make_unique<LoopControlNode>(
        *tag == "break" ? Node::Break : Node::Continue, offset));
  }
  if (*tag == "generation") {
    // transformers' AssistantTracker marks the assistant's text with this
    // block; it renders as its body.
    if (Error error = expectBlockEnd())
      return error;
    if (Error error = parseBody(nodes, {"endgeneration"}, "generation", offset))
      return error;
    return finishBlock();
  }
  if (is_contained({"extends", "block", "include", "import", "from", "call",
                    "do", "autoescape", "filter", "with"},
                   *tag))
    return fail(tagOffset, "'" + *tag + "' is not supported");
  if (!openBlocks.empty() && StringRef(*tag).starts_with("end"))
    return fail(tagOffset, "unexpected '" + *tag +
                               "': the innermost open block is '" +
                               openBlocks.back().first + "', closed by '" +
                               openBlocks.back().second + "'");
  return fail(tagOffset, "unknown tag '" + *tag + "'");
}

Error Parser::parseAssignTarget(std::vector<std::string> &targets, bool &unpack,
                                std::string *attribute) {
  if (attribute && peek().kind == TokenKind::Name && isOp(".", 1) &&
      peek(2).kind == TokenKind::Name) {
    targets.push_back(next().text);
    next();
    *attribute = next().text;
    return Error::success();
  }
  bool parens = skipOp("(");
  for (;;) {
    size_t offset = peek().offset;
    Expected<std::string> name = expectIdentifier();
    if (!name)
      return name.takeError();
    if (is_contained({"true", "false", "none", "True", "False", "None"}, *name))
      return fail(offset, "cannot assign to '" + *name + "'");
    targets.push_back(std::move(*name));
    if (!skipOp(","))
      break;
    unpack = true;
    if (peek().kind != TokenKind::Name || isName("in"))
      break;
  }
  return parens ? expectOp(")") : Error::success();
}

Expected<NodePtr> Parser::parseFor(size_t offset) {
  auto node = std::make_unique<ForNode>(offset);
  if (Error error = parseAssignTarget(node->targets, node->unpack, nullptr))
    return std::move(error);
  if (Error error = expectName("in"))
    return std::move(error);
  Expected<ExprPtr> iterable = parseTuple(
      /*withConditional=*/false, /*explicitParens=*/false,
      /*forIterable=*/true);
  if (!iterable)
    return iterable.takeError();
  node->iterable = std::move(*iterable);
  if (skipName("if")) {
    Expected<ExprPtr> condition = parseExpression();
    if (!condition)
      return condition.takeError();
    node->condition = std::move(*condition);
  }
  if (isName("recursive"))
    return fail(peek().offset, "recursive loops are not supported");
  if (Error error = expectBlockEnd())
    return std::move(error);
  ++loopDepth;
  Error error = parseBody(node->body, {"else", "endfor"}, "for", offset);
  --loopDepth;
  if (error)
    return std::move(error);
  if (isName("else")) {
    next();
    if (Error error = expectBlockEnd())
      return std::move(error);
    if (Error error = parseBody(node->elseBody, {"endfor"}, "for", offset))
      return std::move(error);
  }
  if (Error error = finishBlock())
    return std::move(error);
  return std::move(node);
}

Expected<NodePtr> Parser::parseIf(size_t offset) {
  auto node = std::make_unique<IfNode>(offset);
  for (;;) {
    Expected<ExprPtr> condition = parseTuple(/*withConditional=*/false);
    if (!condition)
      return condition.takeError();
    if (Error error = expectBlockEnd())
      return std::move(error);
    NodeList body;
    if (Error error = parseBody(body, {"elif", "else", "endif"}, "if", offset))
      return std::move(error);
    node->branches.emplace_back(std::move(*condition), std::move(body));
    StringRef tag = next().text;
    if (tag == "elif")
      continue;
    if (tag == "else") {
      if (Error error = expectBlockEnd())
        return std::move(error);
      if (Error error = parseBody(node->elseBody, {"endif"}, "if", offset))
        return std::move(error);
      next();
    }
    break;
  }
  if (Error error = expectBlockEnd())
    return std::move(error);
  return std::move(node);
}

Expected<NodePtr> Parser::parseSet(size_t offset) {
  auto node = std::make_unique<SetNode>(offset);
  if (Error error =
          parseAssignTarget(node->targets, node->unpack, &node->attribute))
    return std::move(error);
  if (skipOp("=")) {
    Expected<ExprPtr> value = parseTuple();
    if (!value)
      return value.takeError();
    node->value = std::move(*value);
    if (Error error = expectBlockEnd())
      return std::move(error);
    return std::move(node);
  }
  if (node->unpack || !node->attribute.empty())
    return unexpected("'='");
  if (Error error = expectBlockEnd())
    return std::move(error);
  // The body renders into a string: `break` cannot leave it.
  unsigned outerLoops = std::exchange(loopDepth, 0);
  Error error = parseBody(node->body, {"endset"}, "set", offset);
  loopDepth = outerLoops;
  if (error)
    return std::move(error);
  if (Error error = finishBlock())
    return std::move(error);
  return std::move(node);
}

Expected<NodePtr> Parser::parseMacro(size_t offset) {
  auto node = std::make_unique<MacroNode>(offset);
  Expected<std::string> name = expectIdentifier();
  if (!name)
    return name.takeError();
  node->name = std::move(*name);
  if (Error error = expectOp("("))
    return std::move(error);
  while (!skipOp(")")) {
    if (!node->params.empty())
      if (Error error = expectOp(","))
        return std::move(error);
    if (skipOp(")"))
      break;
    size_t paramOffset = peek().offset;
    Expected<std::string> param = expectIdentifier();
    if (!param)
      return param.takeError();
    node->params.push_back(std::move(*param));
    ExprPtr defaultValue;
    if (skipOp("=")) {
      Expected<ExprPtr> value = parseExpression();
      if (!value)
        return value.takeError();
      defaultValue = std::move(*value);
    } else if (!node->defaults.empty() && node->defaults.back()) {
      return fail(paramOffset, "parameter '" + node->params.back() +
                                   "' without a default follows one with "
                                   "a default");
    }
    node->defaults.push_back(std::move(defaultValue));
  }
  if (Error error = expectBlockEnd())
    return std::move(error);
  // `break` in a macro body cannot reach a loop around the macro.
  unsigned outerLoops = std::exchange(loopDepth, 0);
  Error error = parseBody(node->body, {"endmacro"}, "macro", offset);
  loopDepth = outerLoops;
  if (error)
    return std::move(error);
  if (Error error = finishBlock())
    return std::move(error);
  return std::move(node);
}

Expected<ExprPtr> Parser::build(Expr::Kind kind, size_t offset,
                                std::vector<ExprPtr> operands,
                                std::string name) {
  auto expr = std::make_unique<Expr>(kind, offset);
  for (const ExprPtr &operand : operands)
    if (operand)
      expr->depth = std::max(expr->depth, operand->depth + 1);
  if (expr->depth > kMaxExprDepth)
    return fail(offset, "expression nested too deeply");
  expr->operands = std::move(operands);
  expr->name = std::move(name);
  return std::move(expr);
}

Error Parser::addOperand(Expr &node, ExprPtr operand) {
  node.depth = std::max(node.depth, operand->depth + 1);
  node.operands.push_back(std::move(operand));
  if (node.depth > kMaxExprDepth)
    return fail(node.offset, "expression nested too deeply");
  return Error::success();
}

Expected<ExprPtr> Parser::parseTuple(bool withConditional, bool explicitParens,
                                     bool forIterable) {
  size_t offset = peek().offset;
  std::vector<ExprPtr> items;
  bool isTuple = false;
  for (;;) {
    if (!items.empty()) {
      if (!skipOp(","))
        break;
      isTuple = true;
    }
    TokenKind kind = peek().kind;
    if (kind == TokenKind::VarEnd || kind == TokenKind::BlockEnd || isOp(")") ||
        (forIterable && isName("recursive")))
      break;
    Expected<ExprPtr> item = parseExpression(withConditional);
    if (!item)
      return item.takeError();
    items.push_back(std::move(*item));
  }
  if (!isTuple) {
    if (!items.empty())
      return std::move(items.front());
    if (!explicitParens)
      return unexpected("an expression");
  }
  return build(Expr::Tuple, offset, std::move(items));
}

Expected<ExprPtr> Parser::parseConditional() {
  NestingGuard guard(nesting);
  if (nesting > kMaxParseNesting)
    return fail(peek().offset, "expression nested too deeply");
  size_t offset = peek().offset;
  Expected<ExprPtr> result = parseOr();
  while (result && skipName("if")) {
    Expected<ExprPtr> condition = parseOr();
    if (!condition)
      return condition.takeError();
    Expected<ExprPtr> otherwise =
        skipName("else") ? parseConditional() : Expected<ExprPtr>(nullptr);
    if (!otherwise)
      return otherwise.takeError();
    result = build(Expr::Conditional, offset,
                   operandList(std::move(*result), std::move(*condition),
                               std::move(*otherwise)));
  }
  return result;
}

Expected<ExprPtr> Parser::parseNot() {
  if (!isName("not"))
    return parseCompare();
  NestingGuard guard(nesting);
  if (nesting > kMaxParseNesting)
    return fail(peek().offset, "expression nested too deeply");
  size_t offset = next().offset;
  Expected<ExprPtr> operand = parseNot();
  if (!operand)
    return operand.takeError();
  return build(Expr::Not, offset, operandList(std::move(*operand)));
}

Expected<ExprPtr> Parser::parseCompare() {
  size_t offset = peek().offset;
  Expected<ExprPtr> first = parseMath1();
  if (!first)
    return first.takeError();
  std::vector<ExprPtr> operands;
  operands.push_back(std::move(*first));
  std::vector<std::string> ops;
  for (;;) {
    if (peek().kind == TokenKind::Operator &&
        is_contained({"==", "!=", "<", "<=", ">", ">="}, peek().text)) {
      ops.push_back(next().text);
    } else if (skipName("in")) {
      ops.push_back("in");
    } else if (isName("not") && isName("in", 1)) {
      next();
      next();
      ops.push_back("notin");
    } else {
      break;
    }
    Expected<ExprPtr> operand = parseMath1();
    if (!operand)
      return operand.takeError();
    operands.push_back(std::move(*operand));
  }
  if (ops.empty())
    return std::move(operands.front());
  Expected<ExprPtr> compare = build(Expr::Compare, offset, std::move(operands));
  if (compare)
    (*compare)->names = std::move(ops);
  return compare;
}

Expected<ExprPtr>
Parser::parseLeftAssociative(Expr::Kind kind, ArrayRef<StringRef> ops,
                             Expected<ExprPtr> (Parser::*parseOperand)()) {
  Expected<ExprPtr> lhs = (this->*parseOperand)();
  while (
      lhs &&
      (peek().kind == TokenKind::Operator || peek().kind == TokenKind::Name) &&
      is_contained(ops, peek().text)) {
    const Token &op = next();
    Expected<ExprPtr> rhs = (this->*parseOperand)();
    if (!rhs)
      return rhs.takeError();
    lhs = build(kind, op.offset, operandList(std::move(*lhs), std::move(*rhs)),
                kind == Expr::Binary ? op.text : "");
  }
  return lhs;
}

Expected<ExprPtr> Parser::parseUnary(bool withFilters) {
  NestingGuard guard(nesting);
  if (nesting > kMaxParseNesting)
    return fail(peek().offset, "expression nested too deeply");
  Expected<ExprPtr> node =
      isOp("-") || isOp("+") ? parseSign() : parsePrimary();
  if (node)
    node = parsePostfix(std::move(*node));
  if (node && withFilters)
    node = parseFilterExpr(std::move(*node));
  return node;
}

Expected<ExprPtr> Parser::parseSign() {
  const Token &sign = next();
  Expected<ExprPtr> operand = parseUnary(/*withFilters=*/false);
  if (!operand)
    return operand.takeError();
  return build(sign.text == "-" ? Expr::Negate : Expr::Plus, sign.offset,
               operandList(std::move(*operand)));
}

Expected<ExprPtr> Parser::parsePrimary() {
  const Token &token = peek();
  auto literal = [&](Value value) -> Expected<ExprPtr> {
    return makeLiteral(token.offset, std::move(value));
  };
  switch (token.kind) {
  case TokenKind::Name:
    next();
    if (token.text == "true" || token.text == "True")
      return literal(true);
    if (token.text == "false" || token.text == "False")
      return literal(false);
    if (token.text == "none" || token.text == "None")
      return literal(Value::none());
    return build(Expr::Name, token.offset, {}, token.text);
  case TokenKind::String: {
    // Adjacent literals concatenate, as in Python.
    std::string text;
    while (peek().kind == TokenKind::String)
      text += next().text;
    return literal(std::move(text));
  }
  case TokenKind::Integer:
    next();
    return literal(token.intValue);
  case TokenKind::Float:
    next();
    return literal(token.floatValue);
  case TokenKind::Operator:
    if (skipOp("(")) {
      Expected<ExprPtr> inner =
          parseTuple(/*withConditional=*/true, /*explicitParens=*/true);
      if (!inner)
        return inner.takeError();
      if (Error error = expectOp(")"))
        return std::move(error);
      return inner;
    }
    if (skipOp("["))
      return parseSequence(Expr::List, "]");
    if (skipOp("{"))
      return parseSequence(Expr::Dict, "}");
    break;
  default:
    break;
  }
  return unexpected("an expression");
}

Expected<ExprPtr> Parser::parseSequence(Expr::Kind kind, StringRef close) {
  size_t offset = tokens[current - 1].offset;
  std::vector<ExprPtr> operands;
  while (!skipOp(close)) {
    if (!operands.empty())
      if (Error error = expectOp(","))
        return std::move(error);
    if (skipOp(close))
      break;
    Expected<ExprPtr> item = parseExpression();
    if (!item)
      return item.takeError();
    operands.push_back(std::move(*item));
    if (kind != Expr::Dict)
      continue;
    if (Error error = expectOp(":"))
      return std::move(error);
    Expected<ExprPtr> value = parseExpression();
    if (!value)
      return value.takeError();
    operands.push_back(std::move(*value));
  }
  return build(kind, offset, std::move(operands));
}

Expected<ExprPtr> Parser::parsePostfix(ExprPtr node) {
  Expected<ExprPtr> result = std::move(node);
  while (result) {
    if (isOp(".") || isOp("[")) {
      result = parseSubscript(std::move(*result));
    } else if (isOp("(")) {
      result =
          build(Expr::Call, peek().offset, operandList(std::move(*result)));
      if (result)
        if (Error error = parseCallArgs(**result))
          return std::move(error);
    } else {
      break;
    }
  }
  return result;
}

Expected<ExprPtr> Parser::parseFilterExpr(ExprPtr node) {
  Expected<ExprPtr> result = std::move(node);
  while (result) {
    size_t offset = peek().offset;
    if (skipOp("|"))
      result = parseFilter(std::move(*result), offset);
    else if (skipName("is"))
      result = parseTest(std::move(*result), offset);
    else if (isOp("("))
      result = parsePostfix(std::move(*result));
    else
      break;
  }
  return result;
}

Expected<ExprPtr> Parser::parseSubscript(ExprPtr node) {
  size_t offset = peek().offset;
  std::vector<ExprPtr> operands;
  operands.push_back(std::move(node));
  if (skipOp(".")) {
    const Token &token = next();
    if (token.kind == TokenKind::Name)
      return build(Expr::Attribute, offset, std::move(operands), token.text);
    if (token.kind != TokenKind::Integer)
      return fail(token.offset, "unexpected " + describe(token) +
                                    ", expected an attribute name");
    operands.push_back(makeLiteral(token.offset, token.intValue));
    return build(Expr::Subscript, offset, std::move(operands));
  }
  next(); // '['
  // As jinja2's parse_subscribed: `a[i]`, or a slice with any of its three
  // parts left out; several (`a[i, j]`) make a tuple key.
  auto parsePart = [&](ExprPtr &part) -> Error {
    if (isOp("]") || isOp(",") || isOp(":"))
      return Error::success();
    Expected<ExprPtr> expr = parseExpression();
    if (!expr)
      return expr.takeError();
    part = std::move(*expr);
    return Error::success();
  };
  ExprPtr start, stop, step;
  if (Error error = parsePart(start))
    return std::move(error);
  bool isSlice = skipOp(":");
  if (isSlice) {
    if (Error error = parsePart(stop))
      return std::move(error);
    if (skipOp(":"))
      if (Error error = parsePart(step))
        return std::move(error);
  }
  std::vector<ExprPtr> keys;
  if (!isSlice) {
    if (!start)
      return unexpected("an expression");
    keys.push_back(std::move(start));
    while (skipOp(",")) {
      Expected<ExprPtr> key = parseExpression();
      if (!key)
        return key.takeError();
      keys.push_back(std::move(*key));
    }
  }
  if (Error error = expectOp("]"))
    return std::move(error);
  if (isSlice) {
    operands.push_back(std::move(start));
    operands.push_back(std::move(stop));
    operands.push_back(std::move(step));
    return build(Expr::Slice, offset, std::move(operands));
  }
  if (keys.size() == 1) {
    operands.push_back(std::move(keys.front()));
  } else {
    Expected<ExprPtr> tuple = build(Expr::Tuple, offset, std::move(keys));
    if (!tuple)
      return tuple.takeError();
    operands.push_back(std::move(*tuple));
  }
  return build(Expr::Subscript, offset, std::move(operands));
}

Expected<ExprPtr> Parser::parseFilter(ExprPtr subject, size_t offset) {
  Expected<std::string> name = expectIdentifier();
  if (!name)
    return name.takeError();
  Expected<ExprPtr> filter =
      build(Expr::Filter, offset, operandList(std::move(subject)), *name);
  if (filter && isOp("("))
    if (Error error = parseCallArgs(**filter))
      return std::move(error);
  return filter;
}

Expected<ExprPtr> Parser::parseTest(ExprPtr subject, size_t offset) {
  bool negated = skipName("not");
  Expected<std::string> name = expectIdentifier();
  if (!name)
    return name.takeError();
  Expected<ExprPtr> test =
      build(Expr::Test, offset, operandList(std::move(subject)), *name);
  if (!test)
    return test;
  // As jinja2: `x is divisibleby 3` takes one argument without parentheses,
  // unless the next word continues the expression.
  TokenKind kind = peek().kind;
  if (isOp("(")) {
    if (Error error = parseCallArgs(**test))
      return std::move(error);
  } else if ((kind == TokenKind::Name || kind == TokenKind::String ||
              kind == TokenKind::Integer || kind == TokenKind::Float ||
              isOp("[") || isOp("{")) &&
             !isName("else") && !isName("or") && !isName("and")) {
    if (isName("is"))
      return fail(peek().offset, "tests cannot be chained with 'is'");
    Expected<ExprPtr> argument = parsePrimary();
    if (argument)
      argument = parsePostfix(std::move(*argument));
    if (!argument)
      return argument.takeError();
    if (Error error = addOperand(**test, std::move(*argument)))
      return std::move(error);
  }
  if (!negated)
    return test;
  return build(Expr::Not, offset, operandList(std::move(*test)));
}

Error Parser::parseCallArgs(Expr &node) {
  next(); // '('
  bool first = true;
  while (!skipOp(")")) {
    if (!first)
      if (Error error = expectOp(","))
        return error;
    first = false;
    if (skipOp(")"))
      break;
    if (isOp("*") || isOp("**"))
      return fail(peek().offset, "'*' and '**' arguments are not supported");
    std::string keyword;
    if (peek().kind == TokenKind::Name && isOp("=", 1)) {
      keyword = next().text;
      next();
    } else if (!node.names.empty()) {
      return fail(peek().offset, "positional argument after a keyword "
                                 "argument");
    }
    Expected<ExprPtr> argument = parseExpression();
    if (!argument)
      return argument.takeError();
    if (!keyword.empty())
      node.names.push_back(std::move(keyword));
    if (Error error = addOperand(node, std::move(*argument)))
      return error;
  }
  return Error::success();
}

} // namespace

Expected<std::unique_ptr<TemplateBody>> parseTemplate(StringRef source) {
  auto body = std::make_unique<TemplateBody>();
  // As Jinja: every newline becomes "\n", and one at the very end goes
  // (keep_trailing_newline=False).
  body->source.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] != '\r') {
      body->source += source[i];
      continue;
    }
    body->source += '\n';
    if (i + 1 < source.size() && source[i + 1] == '\n')
      ++i;
  }
  if (StringRef(body->source).ends_with("\n"))
    body->source.pop_back();

  Expected<std::vector<Token>> tokens = lexTemplate(body->source);
  if (!tokens)
    return tokens.takeError();
  Parser parser(body->source, std::move(*tokens));
  if (Error error = parser.parseTemplate(body->nodes))
    return std::move(error);
  return std::move(body);
}

} // namespace detail
} // namespace jinja
} // namespace loom
