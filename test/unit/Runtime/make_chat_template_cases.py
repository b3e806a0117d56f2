#!/usr/bin/env python3
"""Writes the expected outputs of ChatTemplateTest.cpp with the real jinja2.

Renders every case below with Python's jinja2, configured as transformers'
`_compile_jinja_template` configures it (ImmutableSandboxedEnvironment with
trim_blocks and lstrip_blocks, the loop controls extension, transformers'
`tojson` filter, `raise_exception` global and `{% generation %}` tag), and
writes the results into ChatTemplateTest.cpp between its "BEGIN GENERATED"
and "END GENERATED" lines, so that the C++ engine is checked against Jinja
itself rather than against outputs typed by hand.

A case's context is `messages` (a list of {"role", "content"} dicts),
`add_generation_prompt`, `bos_token`, `eos_token` and `extra`, a JSON object
of more variables whose keys are sorted, so that the C++ side (whose JSON
objects are unordered) builds the same dicts in the same order. A case that
makes Jinja raise records the message: the C++ error must be that message,
or end with ": " and that message (after its "line:column").

usage (needs jinja2; 3.1.6 wrote the current tables):
  python3 -m venv /tmp/jvenv && /tmp/jvenv/bin/pip install jinja2
  /tmp/jvenv/bin/python test/unit/Runtime/make_chat_template_cases.py
"""

import json
import pathlib
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment


class AssistantTracker(jinja2.ext.Extension):
    """transformers' `{% generation %}` block, rendering its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_generation_support")
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def make_environment():
    """As transformers.utils.chat_template_utils._compile_jinja_template."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None,
               sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True,
        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


# ===----------------------------------------------------------------------===#
# Real chat templates, as their models publish them
# ===----------------------------------------------------------------------===#

TEMPLATES = {}

# SmolLM2-135M-Instruct (from its GGUF).
TEMPLATES["SmolLM2"] = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] "
    "!= 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant "
    "named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}")

# meta-llama/Llama-2-7b-chat-hf.
TEMPLATES["Llama2"] = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = "
    "messages[1:] %}{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = "
    "false %}{% endif %}{% for message in loop_messages %}{% if "
    "(message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == "
    "0 and system_message != false %}{% set content = '<<SYS>>\\n' + "
    "system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}"
    "{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + "
    "content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' "
    "%}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}")

# meta-llama/Meta-Llama-3-8B-Instruct.
TEMPLATES["Llama3"] = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

# mistralai/Mistral-7B-Instruct-v0.1.
TEMPLATES["Mistral01"] = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == "
    "'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation "
    "roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + "
    "' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
    "message['content'] + eos_token}}{% else %}{{ raise_exception('Only "
    "user and assistant roles are supported!') }}{% endif %}{% endfor %}")

# mistralai/Mistral-7B-Instruct-v0.3 (before tool calls were added).
TEMPLATES["Mistral03"] = """\
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.last and system_message is defined %}
            {{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' }}
        {%- else %}
            {{- '[INST] ' + message['content'] + '[/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content']|trim + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
"""

# HuggingFaceH4/zephyr-7b-beta.
TEMPLATES["Zephyr"] = """\
{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>
'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}"""

# TinyLlama/TinyLlama-1.1B-Chat-v1.0 (Zephyr's format).
TEMPLATES["TinyLlama"] = TEMPLATES["Zephyr"]

# microsoft/Phi-3-mini-4k-instruct.
TEMPLATES["Phi3"] = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif "
    "message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + "
    "'<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}"
    "{% else %}{{ eos_token }}{% endif %}")

# google/gemma-7b-it.
TEMPLATES["Gemma"] = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ "
    "raise_exception('System role not supported') }}{% endif %}{% for "
    "message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must "
    "alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "(message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}"
    "{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role "
    "+ '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")

# Qwen/Qwen2-7B-Instruct: ChatML with a default system prompt.
TEMPLATES["Qwen2"] = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] "
    "!= 'system' %}{{ '<|im_start|>system\nYou are a helpful "
    "assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + "
    "message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' "
    "}}{% endif %}")

# Qwen/Qwen2.5-7B-Instruct: tools as JSON, attribute access on messages.
TEMPLATES["Qwen25"] = """\
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

SPECIAL_TOKENS = {
    "SmolLM2": ("<|im_start|>", "<|im_end|>"),
    "Llama2": ("<s>", "</s>"),
    "Llama3": ("<|begin_of_text|>", "<|eot_id|>"),
    "Mistral01": ("<s>", "</s>"),
    "Mistral03": ("<s>", "</s>"),
    "Zephyr": ("<s>", "</s>"),
    "TinyLlama": ("<s>", "</s>"),
    "Phi3": ("<s>", "<|endoftext|>"),
    "Gemma": ("<bos>", "<eos>"),
    "Qwen2": ("", "<|im_end|>"),
    "Qwen25": ("", "<|im_end|>"),
}

CONVERSATIONS = {
    "System": [
        ["system", "You are a pirate."],
        ["user", "Hello!"],
        ["assistant", "Arr, hello there."],
        ["user", "  Where is the treasure?  \n"],
    ],
    "Plain": [
        ["user", "What is 2+2?"],
        ["assistant", " 4 "],
        ["user", "And 3+3?"],
    ],
    "Single": [["user", "Hi"]],
    "Unicode": [["user", "H\u00e9llo \"w\u00f6rld\" \u2713 \U0001F600\ttab\\"]],
    "BadOrder": [["user", "one"], ["user", "two"]],
}

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather \"now\" in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}]

# ===----------------------------------------------------------------------===#
# Features, one case each
# ===----------------------------------------------------------------------===#

FEATURES = [
    # Whitespace control: trim_blocks, lstrip_blocks, '-' and '+'.
    ("TrimBlocks", "{% if true %}\nyes\n{% endif %}\nafter\n"),
    ("LstripBlocks", "  {% if true %}\n  x\n  {% endif %}\ny"),
    ("LstripAtStart", "\t {% if true %}x{% endif %}"),
    ("LstripNotForVariables", "  {{ 'x' }}\n  {{ 'y' }}\n"),
    ("LstripMidLine", "a {% if true %}b{% endif %} c\n  d {% if true %}e{% endif %}"),
    ("DashStrips", "a  {%- if true -%}  b  {%- endif -%}  c"),
    ("DashStripsNewlines", "a\n\n  {{- 'b' -}}\n\n  c"),
    ("DashInExpression", "{{ 5 -}}\n{{ 5 - 1 }}|{{ 5-1 }}"),
    ("PlusKeepsIndent", "  {%+ if true %}x{% endif %}"),
    ("PlusKeepsNewline", "{% if true +%}\nx{% endif %}"),
    ("Comments", "a\n  {# a comment {{ x }} #}\nb{#- c -#}  c{# d #}d"),
    ("CommentTrim", "{# c #}\nx\n    {#- c #}\ny"),
    ("CrLf", "a\r\nb{% if true %}\r\nc{% endif %}\r\nd\re\r\n"),
    ("TrailingNewlines", "x\n\n"),
    ("Raw", "{% raw %}{{ x }}{% if %}{% endraw %}|{%- raw -%}  a  {%- endraw -%}  |"),
    ("LoopLines", "{% for i in range(3) %}\n  {{ i }}\n{% endfor %}\n"),
    ("NestedIndentation", "<ul>\n  {% for i in [1, 2] %}\n    {% if i %}\n    <li>{{ i }}</li>\n    {% endif %}\n  {% endfor %}\n</ul>\n"),
    # Literals and printing.
    ("Numbers", "{{ 1 }}|{{ -3 }}|{{ 1.5 }}|{{ 1e3 }}|{{ 10/4 }}|{{ 10//4 }}|{{ -7//2 }}|{{ 7 % -3 }}|{{ -7 % 3 }}|{{ 2**10 }}|{{ 1_000 }}|{{ 0.1 + 0.2 }}|{{ 7.5 // 2 }}|{{ -7.5 % 2 }}|{{ 2 ** -1 }}"),
    ("Floats", "{{ 1e16 }}|{{ 1e15 }}|{{ 1.5e-7 }}|{{ 3.0 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ 100.0 }}|{{ 1/3 }}|{{ 2.5e-4 }}|{{ 123456789.125 }}|{{ -0.0 }}|{{ 10/2 }}"),
    ("Strings", "{{ 'a\\nb' }}|{{ \"it's\" }}|{{ 'tab\\tx' }}|{{ '\\x41\\u00e9\\U0001F600' }}|{{ 'a' 'b' \"c\" }}|{{ '\\q\\\\' }}|{{ '\\101' }}"),
    ("Constants", "{{ none }}|{{ None }}|{{ true }}|{{ False }}|{{ [1, 'a', none, true, 1.5] }}|{{ {'a': 1, 'b': [2]} }}|{{ (1,) }}|{{ () }}|{{ ('a', 2) }}|{{ [] }}|{{ {} }}"),
    ("Repr", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'new\\nline', 'back\\\\slash'] }}"),
    ("PrintMessages", "{{ messages }}"),
    ("Unicode", "{{ 'h\u00e9llo w\u00f6rld \U0001F600' }} \u2713 {{ messages[0].content }}"),
    # Operators.
    ("Arithmetic", "{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 'a' ~ 1 ~ none }}|{{ 'ab' * 3 }}|{{ 3 * 'x' }}|{{ [1] * 2 }}|{{ [1] + [2] }}|{{ (1 + 2) ~ 3 }}|{{ 2 ** 3 ** 2 }}|{{ -2 ** 2 }}|{{ - -1 }}|{{ +1 }}|{{ 'ab' * 0 }}"),
    ("Comparisons", "{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}|{{ 'b' in 'abc' }}|{{ 2 not in [1, 2] }}|{{ 'k' in {'k': 1} }}|{{ 1 == 1.0 }}|{{ true == 1 }}|{{ [1, 2] == [1, 2] }}|{{ 'a' < 'b' }}|{{ [1, 2] < [1, 3] }}|{{ 2 >= 2 }}|{{ 1 != 1 }}|{{ (1, 2) == [1, 2] }}|{{ {'a': 1} == {'a': 1} }}|{{ none == none }}|{{ 'a' in ['a'] }}"),
    ("Logic", "{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ none or [] }}|{{ undefined_var or 'fallback' }}|{{ not true or true }}|{{ not (true or true) }}|{{ not 1 == 2 }}|{{ true and not false }}"),
    ("Conditional", "{{ 'y' if true else 'n' }}|{{ 'y' if false else 'n' }}|{{ 'y' if false }}|{{ 1 if 0 else 2 if 0 else 3 }}|{{ ('a' if true else 'b') ~ 'c' }}"),
    # Subscripts, slices and attributes.
    ("Indexing", "{{ messages[0]['role'] }}|{{ messages[-1].content }}|{{ messages[0].missing }}|{{ messages[10] }}|{{ 'hello'[1] }}|{{ 'hello'[-1] }}|{{ messages.0.role }}|{{ '\u00e9t\u00e9'[1] }}"),
    ("Slicing", "{{ [1,2,3][1:] }}|{{ [1,2,3][::-1] }}|{{ 'hello'[1:3] }}|{{ 'hello'[::2] }}|{{ [1,2,3,4,5][-2:] }}|{{ [1,2,3][:-1] }}|{{ 'h\u00e9llo'[1:3] }}|{{ 'abc'[5:] }}|{{ [1,2,3,4][3:0:-1] }}|{{ [1,2,3,4][-10:10:2] }}|{{ messages[1:] | length }}|{{ (1, 2, 3)[1:] }}|{{ 'abc'[::-1] }}"),
    ("AttributeOrMethod", "{{ d['items'] }}|{{ d.keys() | list }}|{{ d.b }}|{{ d['b'] }}"),
    # Loops.
    ("LoopVariables", "{% for m in messages %}{{ loop.index }}/{{ loop.length }}:{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.revindex }}{{ loop.revindex0 }} {% endfor %}"),
    ("LoopElse", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}empty{% endfor %}"),
    ("LoopFilter", "{% for m in messages if m.role == 'user' %}{{ loop.index }}/{{ loop.length }}={{ m.content }};{% else %}none{% endfor %}"),
    ("LoopUnpack", "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }},{% endfor %}|{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}|{% for (a, b) in [(1, 2)] %}{{ a }}{{ b }}{% endfor %}"),
    ("LoopOverDictAndString", "{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}|{% for c in 'h\u00e9y' %}[{{ c }}]{% endfor %}"),
    ("NestedLoops", "{% for i in range(2) %}{% for j in range(3) %}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}"),
    ("LoopNeighbours", "{% for i in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle('a', 'b') }} {% endfor %}"),
    ("LoopControls", "{% for i in range(10) %}{% if i == 5 %}{% break %}{% endif %}{% if i is odd %}{% continue %}{% endif %}{{ i }}{% endfor %}"),
    ("LoopScoping", "{% set x = 0 %}{% for i in range(3) %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}|{% for i in range(2) %}{% if i == 0 %}{% set y = 5 %}{% endif %}{{ y }}{% endfor %}"),
    # Assignments.
    ("IfScoping", "{% if true %}{% set y = 1 %}{% endif %}{{ y }}"),
    ("Namespace", "{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.count = ns.count + 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }} {{ ns }}"),
    ("SetTuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set t = 1, 2 %}{{ t }}"),
    ("SetBlock", "{% set greeting %}Hello {{ 'World' }}!{% endset %}[{{ greeting }}]"),
    ("IfElif", "{% for n in [1, 2, 3, 4] %}{% if n == 1 %}one{% elif n == 2 %}two{% elif n is even %}even{% else %}other{% endif %} {% endfor %}"),
    # Macros.
    ("Macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(punct='.', name='Cy') }}"),
    ("MacroRecursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}"),
    ("MacroMissingArgument", "{% macro f(a, b) %}[{{ a }}|{{ b }}|{{ b is defined }}]{% endmacro %}{{ f(1) }}"),
    ("MacroSeesTopLevel", "{% macro f() %}{{ c }}{{ bos_token }}{% endmacro %}{% set c = 3 %}{{ f() }}{% for i in [1] %}{% set c = 4 %}{{ f() }}{% endfor %}"),
    ("MacroDefaultUsesParameter", "{% macro f(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ f(3) }}"),
    # Filters.
    ("StringFilters", "{{ '  hi  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'Hello' | upper }}|{{ 'Hello' | lower }}|{{ 'hello wORLD-foo(bar' | title }}|{{ 'hELLO world' | capitalize }}|{{ 'aaa' | replace('a', 'b') }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ 'ab' | replace('', '-') }}|{{ none | trim }}|{{ ' \u00a0x\u3000 ' | trim }}"),
    ("Length", "{{ 'h\u00e9llo' | length }}|{{ [1, 2] | count }}|{{ {'a': 1} | length }}|{{ undefined_var | length }}|{{ messages | length }}"),
    ("Default", "{{ undefined_var | default('dflt') }}|{{ '' | default('dflt') }}|{{ '' | default('dflt', true) }}|{{ none | d('x') }}|{{ undefined_var | default }}|{{ false | default('x', boolean=true) }}"),
    ("Conversions", "{{ [1, 2, 3] | join(', ') }}|{{ messages | join('|', attribute='role') }}|{{ [3, 4] | first }}|{{ 'abc' | last }}|{{ 'abc' | list }}|{{ 42 | string }}|{{ '42' | int + 1 }}|{{ '4.7' | int }}|{{ 'x' | int }}|{{ 'x' | int(7) }}|{{ 3.9 | int }}|{{ '2.5' | float }}|{{ none | string }}|{{ [] | first }}|{{ ' 1_0 ' | int }}|{{ true | int }}|{{ 'inf' | float }}"),
    ("ToJson", "{{ {'a': '\u00e9', 'b': [1, 2.5, none, true], 'c': 'q\"\\\\\\n\\t\\u0001\\x7f'} | tojson }}|{{ [] | tojson }}|{{ {} | tojson(indent=2) }}|{{ {'x': [1, {'y': 2}], 'z': []} | tojson(indent=2) }}|{{ '\u00fc\U0001F600' | tojson(ensure_ascii=true) }}|{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}|{{ [1, {'k': 2}] | tojson(separators=(',', ':')) }}|{{ 1.0 | tojson }}|{{ messages[0] | tojson }}|{{ [1, 2] | tojson(indent='\\t') }}"),
    ("ToJsonTools", "{% for tool in tools %}{{ tool | tojson }}\n{{ tool.function.parameters | tojson(indent=4) }}{% endfor %}"),
    ("Items", "{% for k, v in {'a': 1, 'b': 'x'} | items %}{{ k }}{{ v }}{% endfor %}|{{ undefined_var | items | list }}|{{ {'a': 1} | items | list }}"),
    ("SelectAndMap", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|{{ messages | rejectattr('role', 'eq', 'user') | list | length }}|{{ ['a', 'B'] | map('upper') | join }}|{{ [1, 2, 3, 4] | select('odd') | list }}|{{ [0, 1, ''] | select | list }}|{{ messages | map(attribute='missing', default='?') | join }}|{{ messages | selectattr('content') | list | length }}|{{ [1, 5, 3] | select('gt', 2) | list }}|{{ ['a,b', 'c'] | map('replace', ',', ';') | list }}"),
    ("Indent", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('> ') }}|{{ 'a\\r\\nb\\n' | indent(1) }}|{{ '' | indent(first=true) }}"),
    ("MoreFilters", "{{ [3, 1, 2] | sort }}|{{ ['b', 'A', 'c'] | sort }}|{{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}|{{ [3, 1, 2] | sort(reverse=true) }}|{{ messages | sort(attribute='role') | map(attribute='role') | join(',') }}|{{ [1, 2, 3] | reverse | list }}|{{ 'abc' | reverse }}|{{ 'x' | safe }}|{{ 1 | safe ~ 2 }}|{{ [1, 2, 1].count(1) }}|{{ ['a', 'b'].index('b') }}"),
    # Methods.
    ("StringMethods", "{{ '  x  '.strip() }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ 'xxaxx'.strip('x') }}|{{ ' a b  c\\n'.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a b c'.split(none, 1) }}|{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith(('x', 'lo')) }}|{{ 'Hi'.upper() }}|{{ 'Hi'.lower() }}|{{ 'aXa'.replace('a', 'b') }}|{{ \"they're bill's\".title() }}|{{ 'hello'.find('l') }}|{{ 'hello'.count('l') }}|{{ '-'.join(['a', 'b']) }}|{{ 'hELLO'.capitalize() }}|{{ ''.split() }}"),
    ("DictMethods", "{% set d = {'a': 1, 'b': 2} %}{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.items() | list }}|{{ d.get('a') }}|{{ d.get('z') }}|{{ d.get('z', 9) }}|{{ d['get'] is callable }}"),
    ("Range", "{{ range(3) | list }}|{{ range(1, 4) | list }}|{{ range(10, 0, -3) | list }}|{{ range(0) | list }}|{{ range(5)[-1] }}"),
    # Tests.
    ("Tests", "{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ 1.5 is number }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is sequence }}{{ true is true }}{{ false is false }}{{ 1 is true }}{{ 2 is even }}{{ 3 is odd }}{{ 1 is not none }}{{ 6 is divisibleby 3 }}{{ 6 is divisibleby(4) }}{{ 'a' is in 'abc' }}{{ 1 is integer }}{{ true is integer }}{{ 1.0 is float }}{{ true is boolean }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 2 is gt 1 }}{{ 2 is eq 2 }}{{ messages is iterable }}{{ x is mapping }}{{ raise_exception is callable }}{{ 'x' is not string }}{{ 1 is ne 1 }}{{ 'a' is le 'b' }}"),
    ("TestPrecedence", "{{ not x is defined }}|{{ x is defined and x }}|{{ 3 is odd or false }}|{{ 'y' if x is not defined else 'n' }}"),
    ("Undefined", "[{{ missing }}]{{ missing is defined }}{% if missing %}yes{% else %}no{% endif %}{% for x in missing %}{{ x }}{% endfor %}{{ missing | length }}{{ missing ~ 'x' }}{{ missing == missing }}{{ (1 if false) is defined }}{{ missing is iterable }}{{ 'a' in missing }}"),
    # Tags from extensions transformers enables.
    ("Generation", "{% generation %}x{{ 1 }}{% endgeneration %}"),
]

# Cases that make Jinja raise: the message must match ours.
ERRORS = [
    ("RaiseException", "{{ raise_exception('Bad thing: ' ~ 1) }}"),
    ("RaiseInLoop", "{% for m in messages %}{% if m.role == 'assistant' %}{{ raise_exception('no ' + m.role) }}{% endif %}{% endfor %}"),
    ("UndefinedAttribute", "{{ foo.bar }}"),
    ("UndefinedCall", "{{ foo() }}"),
    ("UndefinedArithmetic", "{{ undefined_var + 1 }}"),
    ("MissingNestedAttribute", "{{ messages[0].content.missing.x }}"),
    ("BadOperands", "{{ 1 + 'a' }}"),
    ("ConcatBindsTighterThanPlus", "{{ 1 + 2 ~ 3 }}"),
    ("BadComparison", "{{ 1 < 'a' }}"),
    ("InNotIterable", "{{ 'a' in 1 }}"),
    ("InStringNeedsString", "{{ 1 in 'a' }}"),
    ("DivisionByZero", "{{ 1 / 0 }}"),
    ("UnsafeAppend", "{% set l = [] %}{{ l.append(1) }}"),
    ("RangeTooBig", "{{ range(100001) | length }}"),
    ("SetAttributeOnNonNamespace", "{% set x = 1 %}{% set x.y = 2 %}"),
    ("UnpackNonIterable", "{% for a, b in [1] %}{% endfor %}"),
    ("UnpackTooMany", "{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
    ("ItemsOfString", "{{ 'x' | items | list }}"),
    ("JsonOfUndefined", "{{ {'a': undefined_var} | tojson }}"),
    ("LengthOfInt", "{{ 5 | length }}"),
    ("IterateInt", "{% for x in 5 %}{% endfor %}"),
    ("SliceStepZero", "{{ 'abc'[::0] }}"),
    ("EmptySeparator", "{{ 'abc'.split('') }}"),
    ("MacroTooManyArguments", "{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}"),
    ("MacroUnknownKeyword", "{% macro f(a) %}{% endmacro %}{{ f(b=1) }}"),
    ("NotCallable", "{{ 'abc'() }}"),
    ("NegateString", "{{ -'a' }}"),
]


def model_cases():
    cases = []
    for model, (bos, eos) in SPECIAL_TOKENS.items():
        for conversation, messages in CONVERSATIONS.items():
            prompts = [False] if conversation == "BadOrder" else [False, True]
            for add_generation_prompt in prompts:
                name = f"{model}{conversation}{'Prompt' if add_generation_prompt else ''}"
                cases.append(dict(name=name, template=model, messages=messages,
                                  add_generation_prompt=add_generation_prompt,
                                  bos=bos, eos=eos, extra={}))
    for tools in (False, True):
        cases.append(dict(
            name="Qwen25Tools" if tools else "Qwen25NoTools", template="Qwen25",
            messages=CONVERSATIONS["Plain"], add_generation_prompt=True,
            bos="", eos="<|im_end|>", extra={"tools": TOOLS} if tools else {}))
    return cases


def feature_cases():
    extra = {"d": {"items": 5, "b": 2}, "tools": TOOLS, "x": {"k": 1}}
    return [dict(name=name, source=source, messages=CONVERSATIONS["Plain"],
                 add_generation_prompt=False, bos="<s>", eos="</s>",
                 extra=extra)
            for name, source in FEATURES + ERRORS]


def render(env, source, case):
    extra = json.loads(json.dumps(case["extra"], sort_keys=True))
    messages = [{"role": role, "content": content}
                for role, content in case["messages"]]
    try:
        output = env.from_string(source).render(
            messages=messages,
            add_generation_prompt=case["add_generation_prompt"],
            bos_token=case["bos"], eos_token=case["eos"], **extra)
        return False, output
    except jinja2.exceptions.TemplateSyntaxError:
        raise
    except Exception as error:  # Jinja's runtime errors and Python's.
        return True, str(error)


def cxx_string(text, indent):
    """A C++ string literal, split after each newline."""
    pieces, piece = [], ""
    for char in text:
        code = ord(char)
        if char == "\\":
            piece += "\\\\"
        elif char == '"':
            piece += '\\"'
        elif char == "\n":
            piece += "\\n"
        elif char == "\t":
            piece += "\\t"
        elif code < 0x20 or code == 0x7F:
            piece += "\\%03o" % code
        else:
            piece += char
        if char == "\n":
            pieces.append(piece)
            piece = ""
    if piece or not pieces:
        pieces.append(piece)
    return ("\n" + " " * indent).join(f'"{p}"' for p in pieces)


def main():
    env = make_environment()
    test_file = pathlib.Path(__file__).with_name("ChatTemplateTest.cpp")
    lines = ["// BEGIN GENERATED by make_chat_template_cases.py (jinja2 "
             f"{jinja2.__version__}); do not edit.",
             "// clang-format off"]
    for name, source in TEMPLATES.items():
        lines.append(f"const char k{name}Template[] =\n    "
                     f"{cxx_string(source, 4)};")
    lines.append("const char kPlainMessages[] =\n    " + cxx_string(
        json.dumps(CONVERSATIONS["Plain"], ensure_ascii=False), 4) + ";")
    lines.append("const char kFeatureExtra[] =\n    " + cxx_string(
        json.dumps(feature_cases()[0]["extra"], sort_keys=True,
                   ensure_ascii=False), 4) + ";")
    lines.append("")
    lines.append("const RenderCase kModelCases[] = {")
    for case in model_cases():
        failed, expected = render(env, TEMPLATES[case["template"]], case)
        lines.append(
            f'    {{"{case["name"]}", k{case["template"]}Template,\n'
            f'     {cxx_string(json.dumps(case["messages"], ensure_ascii=False), 5)},\n'
            f'     {"true" if case["add_generation_prompt"] else "false"}, '
            f'"{case["bos"]}", "{case["eos"]}",\n'
            f'     {cxx_string(json.dumps(case["extra"], sort_keys=True, ensure_ascii=False), 5)},\n'
            f'     {"true" if failed else "false"},\n'
            f'     {cxx_string(expected, 5)}}},')
    lines.append("};")
    lines.append("")
    lines.append("const RenderCase kFeatureCases[] = {")
    error_names = {name for name, _ in ERRORS}
    for case in feature_cases():
        failed, expected = render(env, case["source"], case)
        if failed != (case["name"] in error_names):
            sys.exit(f"{case['name']}: jinja2 {'failed' if failed else 'passed'}"
                     f" unexpectedly: {expected}")
        lines.append(
            f'    {{"{case["name"]}",\n'
            f'     {cxx_string(case["source"], 5)},\n'
            f'     kPlainMessages, false, "<s>", "</s>", kFeatureExtra,\n'
            f'     {"true" if failed else "false"},\n'
            f'     {cxx_string(expected, 5)}}},')
    lines.append("};")
    lines.append("// clang-format on")
    lines.append("// END GENERATED")

    text = test_file.read_text()
    begin = text.index("// BEGIN GENERATED")
    end = text.index("// END GENERATED") + len("// END GENERATED")
    test_file.write_text(text[:begin] + "\n".join(lines) + text[end:])
    print(f"{test_file}: {len(model_cases())} model cases, "
          f"{len(FEATURES) + len(ERRORS)} feature cases")


if __name__ == "__main__":
    main()
