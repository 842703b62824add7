"""The official OpenAI Python SDK against sheepdog's mock: every endpoint the mock serves, called
the way a user's code calls it, each answer's fields checked.

    python3 tests/sdk/openai_sdk.py http://127.0.0.1:PORT/v1

tests/sdk.rs starts the mock on 127.0.0.1:0 and runs this script; it prints one line per check
and exits non-zero on the first that fails.
"""

import base64
import io
import json
import struct
import sys
import time

import openai
import pydantic

CHAT_MODEL = "gpt-4.1-mini"
EMBEDDING_MODEL = "text-embedding-3-small"


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def strict(obj, as_type=None):
    """`obj` validated against the SDK's own type: every required field there, every field of
    the right type (the SDK builds its objects without validating, so this is what finds a
    shape the mock gets wrong)."""
    try:
        (as_type or type(obj)).model_validate(obj.model_dump(mode="json", by_alias=True, exclude_unset=True, warnings=False))
    except pydantic.ValidationError as e:
        raise AssertionError(f"{type(obj).__name__} does not match the SDK's type: {e}") from e
    return obj


def usage_is_counted(usage, what):
    check(usage is not None, f"{what}: no usage")
    check(usage.prompt_tokens > 0, f"{what}: prompt_tokens {usage.prompt_tokens}")
    check(usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, f"{what}: total_tokens")


def chat(client):
    answer = strict(client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}],
        max_tokens=20,
    ))
    check(answer.object == "chat.completion", f"object {answer.object}")
    check(answer.model == CHAT_MODEL, f"model {answer.model}")
    check(answer.id, "no id")
    choice = answer.choices[0]
    check(choice.message.role == "assistant", f"role {choice.message.role}")
    check(isinstance(choice.message.content, str) and choice.message.content, "no content")
    check(choice.finish_reason in ("stop", "length"), f"finish_reason {choice.finish_reason}")
    usage_is_counted(answer.usage, "chat")
    check(answer.usage.completion_tokens <= 20, "max_tokens not honoured")


def chat_stream(client):
    stream = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Count to five."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, finish = "", None, None
    for chunk in stream:
        strict(chunk)
        check(chunk.object == "chat.completion.chunk", f"object {chunk.object}")
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    check(text, "no streamed text")
    check(finish in ("stop", "length"), f"finish_reason {finish}")
    usage_is_counted(usage, "chat stream")


class City(pydantic.BaseModel):
    name: str
    country: str
    population: int
    coastal: bool


def chat_parse(client):
    answer = client.chat.completions.parse(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Name a city."}],
        response_format=City,
    )
    # `parse` returns a generic ParsedChatCompletion: check the completion under it.
    strict(answer, openai.types.chat.ChatCompletion)
    parsed = answer.choices[0].message.parsed
    check(isinstance(parsed, City), f"parsed {parsed!r}")
    check(isinstance(parsed.population, int), "population")


def chat_tools(client):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                    "required": ["city", "unit"],
                    "additionalProperties": False,
                },
                "strict": True,
            },
        }
    ]
    answer = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = answer.choices[0]
    check(choice.finish_reason == "tool_calls", f"finish_reason {choice.finish_reason}")
    call = choice.message.tool_calls[0]
    check(call.type == "function" and call.function.name == "get_weather", f"call {call}")
    arguments = json.loads(call.function.arguments)
    check(isinstance(arguments.get("city"), str), f"arguments {arguments}")
    check(arguments.get("unit") in ("c", "f"), f"arguments {arguments}")


def completions(client):
    answer = strict(client.completions.create(model=CHAT_MODEL, prompt="Once upon a time", max_tokens=10))
    check(answer.object == "text_completion", f"object {answer.object}")
    check(answer.choices[0].text, "no text")
    check(answer.choices[0].finish_reason in ("stop", "length"), "finish_reason")
    usage_is_counted(answer.usage, "completions")


def embeddings(client):
    texts = ["the cat sat", "on the mat"]
    floats = strict(client.embeddings.create(model=EMBEDDING_MODEL, input=texts, dimensions=8, encoding_format="float"))
    check(floats.object == "list" and floats.model == EMBEDDING_MODEL, f"{floats.object} {floats.model}")
    check([d.index for d in floats.data] == [0, 1], "indexes")
    check(all(d.object == "embedding" and len(d.embedding) == 8 for d in floats.data), "vectors of 8")
    check(floats.usage.prompt_tokens > 0 and floats.usage.total_tokens == floats.usage.prompt_tokens, "usage")
    # Without encoding_format the SDK asks for base64 and decodes it: the same vectors.
    decoded = client.embeddings.create(model=EMBEDDING_MODEL, input=texts, dimensions=8)
    for a, b in zip(floats.data, decoded.data):
        check(all(abs(x - y) < 1e-6 for x, y in zip(a.embedding, b.embedding)), "base64 differs from float")
    raw = client.embeddings.create(model=EMBEDDING_MODEL, input="x", dimensions=4, encoding_format="base64")
    vector = raw.data[0].embedding
    if isinstance(vector, str):
        vector = struct.unpack("<4f", base64.b64decode(vector))
    check(len(vector) == 4, f"base64 vector {vector!r}")
    norm = sum(x * x for x in vector) ** 0.5
    check(abs(norm - 1.0) < 1e-3, f"not a unit vector: {norm}")


def responses(client):
    answer = strict(client.responses.create(model=CHAT_MODEL, input="Say hello.", max_output_tokens=500))
    check(answer.object == "response" and answer.status == "completed", f"{answer.object} {answer.status}")
    check(answer.model == CHAT_MODEL, f"model {answer.model}")
    check(answer.output_text, "no output_text")
    message = answer.output[0]
    check(message.type == "message" and message.role == "assistant", f"output {message}")
    usage = answer.usage
    check(usage.input_tokens > 0 and usage.output_tokens > 0, f"usage {usage}")
    check(usage.total_tokens == usage.input_tokens + usage.output_tokens, "total_tokens")
    check(usage.input_tokens_details.cached_tokens >= 0, "cached_tokens")
    cut = strict(client.responses.create(model=CHAT_MODEL, input="Say hello.", max_output_tokens=1))
    check(cut.status == "incomplete", f"status {cut.status}")
    check(cut.incomplete_details.reason == "max_output_tokens", f"{cut.incomplete_details}")
    check(cut.usage.output_tokens == 1, f"usage {cut.usage}")


def responses_stream(client):
    kinds, text, completed = [], "", None
    for event in client.responses.create(model=CHAT_MODEL, input="Count to five.", stream=True):
        strict(event)
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
        elif event.type == "response.completed":
            completed = event.response
    check(kinds[0] == "response.created", f"first event {kinds[:1]}")
    check(text, "no delta text")
    check(completed is not None and completed.output_text == text, "response.completed text")
    check(completed.usage.output_tokens > 0, "usage in response.completed")
    # The helper that accumulates the events agrees.
    with client.responses.stream(model=CHAT_MODEL, input="Count to five.") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    check(final.output_text == text, "responses.stream final text")


def moderations(client):
    answer = strict(client.moderations.create(input=["a calm sentence", "another one"]))
    check(answer.id and answer.model, "id and model")
    check(len(answer.results) == 2, f"{len(answer.results)} results")
    result = answer.results[0]
    check(isinstance(result.flagged, bool), "flagged")
    check(isinstance(result.categories.violence, bool), "categories")
    check(0.0 <= result.category_scores.violence <= 1.0, "category_scores")


def wait_for(client, batch):
    for _ in range(600):
        batch = strict(client.batches.retrieve(batch.id))
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch.id} never ended: {batch.status}")


def files_and_batches(client):
    lines = [
        {"custom_id": "c1", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]}},
        {"custom_id": "c2", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "ho"}]}},
    ]
    embedding_lines = [
        {"custom_id": "e1", "method": "POST", "url": "/v1/embeddings",
         "body": {"model": EMBEDDING_MODEL, "input": "a cat", "dimensions": 4}},
    ]
    for endpoint, batch_lines in (("/v1/chat/completions", lines), ("/v1/embeddings", embedding_lines)):
        content = "".join(json.dumps(line) + "\n" for line in batch_lines).encode()
        uploaded = strict(client.files.create(file=("input.jsonl", io.BytesIO(content)), purpose="batch"))
        check(uploaded.object == "file" and uploaded.purpose == "batch", f"file {uploaded}")
        check(uploaded.bytes == len(content) and uploaded.filename == "input.jsonl", "file size and name")
        check(client.files.retrieve(uploaded.id).id == uploaded.id, "files.retrieve")
        check(uploaded.id in [f.id for f in client.files.list()], "files.list")
        check(client.files.content(uploaded.id).content == content, "files.content of the upload")
        batch = strict(client.batches.create(
            input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h", metadata={"run": "sdk"}
        ))
        check(batch.object == "batch" and batch.endpoint == endpoint, f"batch {batch}")
        check(batch.status == "validating" and batch.metadata == {"run": "sdk"}, f"batch {batch}")
        done = wait_for(client, batch)
        check(done.status == "completed", f"status {done.status} {done.errors}")
        counts = done.request_counts
        check((counts.total, counts.completed, counts.failed) == (len(batch_lines), len(batch_lines), 0), f"{counts}")
        check(done.completed_at and done.output_file_id and done.error_file_id is None, "completed batch fields")
        output = [json.loads(line) for line in client.files.content(done.output_file_id).text.splitlines()]
        check(sorted(o["custom_id"] for o in output) == sorted(l["custom_id"] for l in batch_lines), "custom_ids")
        for line in output:
            check(line["response"]["status_code"] == 200 and line["error"] is None, f"line {line}")
            body = line["response"]["body"]
            if endpoint == "/v1/embeddings":
                check(len(body["data"][0]["embedding"]) == 4, "batch embedding")
            else:
                check(body["object"] == "chat.completion", "batch chat answer")
        check(batch.id in [b.id for b in client.batches.list()], "batches.list")
    # Cancelling a finished batch is refused in OpenAI's shape.
    try:
        client.batches.cancel(batch.id)
        raise AssertionError("a completed batch was cancelled")
    except openai.ConflictError as e:
        check(e.status_code == 409, f"cancel: {e}")


def errors(client):
    try:
        client.embeddings.create(model=EMBEDDING_MODEL, input="x", dimensions=100000)
        raise AssertionError("bad dimensions accepted")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and e.code == "invalid_value", f"error {e}")
    try:
        client.batches.retrieve("batch_nope")
        raise AssertionError("an unknown batch was found")
    except openai.NotFoundError as e:
        check(e.status_code == 404, f"error {e}")


CHECKS = [chat, chat_stream, chat_parse, chat_tools, completions, embeddings, responses,
          responses_stream, moderations, files_and_batches, errors]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: openai_sdk.py BASE_URL (e.g. http://127.0.0.1:8080/v1)")
    client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-mock-not-a-key", max_retries=0, timeout=30)
    print(f"openai {openai.__version__} against {sys.argv[1]}")
    failed = 0
    for run in CHECKS:
        try:
            run(client)
            print(f"ok   {run.__name__}")
        except Exception as e:  # every failure is reported, then the script fails
            failed += 1
            print(f"FAIL {run.__name__}: {type(e).__name__}: {e}")
    if failed:
        sys.exit(f"{failed} of {len(CHECKS)} checks failed")
    print(f"all {len(CHECKS)} checks passed")


if __name__ == "__main__":
    main()
