"""Times the Python wechatpayv3 SDK's own callback steps on chatmall-bench's inputs.

The SDK's `WeChatPay.callback` needs a full client (merchant key, certificates); its steps
are the utility functions below, called as `decrypt_callback` calls them: rsa_verify over
the headers and body, then aes_decrypt of the resource, then json.loads of the result.
Usage: peer_verify.py INPUT_DIR N ROUNDS; prints the median seconds per callback.
"""

import json
import sys
import time

from wechatpayv3.utils import aes_decrypt, load_public_key, rsa_verify


def main():
    folder, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(f"{folder}/pub_key.pem", encoding="utf-8") as f:
        public_key = load_public_key(f.read())
    with open(f"{folder}/headers.json", encoding="utf-8") as f:
        headers = json.load(f)
    with open(f"{folder}/body.json", encoding="utf-8") as f:
        body = f.read()
    with open(f"{folder}/apiv3_key", encoding="utf-8") as f:
        apiv3_key = f.read().strip()

    def once():
        ok = rsa_verify(
            headers["Wechatpay-Timestamp"],
            headers["Wechatpay-Nonce"],
            body,
            headers["Wechatpay-Signature"],
            public_key,
        )
        assert ok, "the SDK refused the signature"
        resource = json.loads(body)["resource"]
        result = aes_decrypt(
            nonce=resource["nonce"],
            ciphertext=resource["ciphertext"],
            associated_data=resource.get("associated_data", ""),
            apiv3_key=apiv3_key,
        )
        assert result, "the SDK could not decrypt"
        return json.loads(result)

    for _ in range(max(n // 4, 1)):
        once()
    means = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            once()
        means.append((time.perf_counter() - start) / n)
    means.sort()
    print(json.dumps({"per_op_s": means[len(means) // 2]}))


if __name__ == "__main__":
    main()
