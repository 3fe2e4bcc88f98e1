"""The official `openai` package as a real client of chatmall's /v1 (run by
crates/server/tests/api/openai.rs): streaming and not, the models list, a refused model,
a bad key, a picture (unless the fifth argument is "-") and (given a sixth argument) a
revoked key. Prints one JSON object with what it saw; the Rust test checks it."""
import json
import sys

import openai

base_url, key, model, refused_model, image_model = sys.argv[1:6]
revoked_key = sys.argv[6] if len(sys.argv) > 6 else None
client = openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0, timeout=20)
seen = {}

whole = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "hello"}]
)
seen["whole"] = {
    "content": whole.choices[0].message.content,
    "finish_reason": whole.choices[0].finish_reason,
    "usage": whole.usage.model_dump() if whole.usage else None,
    "id": whole.id,
}

deltas, usage, finish = [], None, None
for chunk in client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "hello"}],
    stream=True,
    stream_options={"include_usage": True},
):
    if chunk.usage:
        usage = chunk.usage.model_dump()
    for choice in chunk.choices:
        if choice.delta.content:
            deltas.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
seen["stream"] = {"content": "".join(deltas), "finish_reason": finish, "usage": usage}

seen["models"] = sorted(m.id for m in client.models.list())

if image_model != "-":
    picture = client.images.generate(model=image_model, prompt="a red panda", n=1)
    seen["image"] = [p.url for p in picture.data]

def refusal(call, error):
    """What the server answered to `call`, which must be refused with `error`."""
    try:
        call()
        return "answered"
    except error as e:
        return {"status": e.status_code, "code": e.code}


def chat_with(api, model_name):
    return lambda: api.chat.completions.create(
        model=model_name, messages=[{"role": "user", "content": "x"}]
    )


seen["refused"] = refusal(chat_with(client, refused_model), openai.NotFoundError)
bad = openai.OpenAI(base_url=base_url + "/v1", api_key="sk-not-a-key", max_retries=0)
seen["bad_key"] = refusal(bad.models.list, openai.AuthenticationError)
if revoked_key:
    revoked = openai.OpenAI(base_url=base_url + "/v1", api_key=revoked_key, max_retries=0)
    seen["revoked"] = refusal(chat_with(revoked, model), openai.AuthenticationError)

print(json.dumps(seen, ensure_ascii=False))
