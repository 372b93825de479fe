// Drives a Switchyard gateway with the official AWS SDK for JavaScript
// (@aws-sdk/client-bedrock-runtime): Converse and ConverseStream, signed
// with SigV4. It prints one JSON line with what came back; the Go test
// that runs it checks the line.
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const client = new BedrockRuntimeClient({
  region: "us-east-1",
  endpoint: env("SY_ENDPOINT"),
  credentials: {
    accessKeyId: env("SY_AWS_ACCESS_KEY_ID"),
    secretAccessKey: env("SY_AWS_SECRET_ACCESS_KEY"),
  },
  maxAttempts: 1,
});
const modelId = env("SY_MODEL");
const messages = [{ role: "user", content: [{ text: env("SY_PROMPT") }] }];

const out = {};
const plain = await client.send(new ConverseCommand({ modelId, messages }));
out.text = plain.output?.message?.content?.map((c) => c.text ?? "").join("");
out.stopReason = plain.stopReason;
out.usage = plain.usage;

const streamed = await client.send(new ConverseStreamCommand({ modelId, messages }));
out.streamText = "";
out.events = [];
for await (const ev of streamed.stream) {
  const kind = Object.keys(ev)[0];
  out.events.push(kind);
  if (kind === "contentBlockDelta") out.streamText += ev.contentBlockDelta.delta?.text ?? "";
  if (kind === "metadata") out.streamUsage = ev.metadata.usage;
}

try {
  await client.send(new ConverseCommand({ modelId: "no-such-model", messages }));
  out.unknownModel = "accepted";
} catch (e) {
  out.unknownModel = e.name;
  out.unknownModelStatus = e.$metadata?.httpStatusCode;
}
console.log(JSON.stringify(out));
