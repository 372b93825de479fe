// Package bedrock adapts Amazon Bedrock's Converse and ConverseStream APIs to
// the gateway's llm model, in both directions: the egress Adapter calls
// Bedrock as a channel, and the ingress codecs (DecodeConverseRequest,
// RequestToLLM, ResponseFromLLM, StreamEncoder) let the gateway's front door
// speak Converse to Bedrock SDK clients.
//
// It also holds the AWS plumbing those two sides share: the binary
// event-stream codec (EventEncoder, EventDecoder) and Signature Version 4
// signing (SignRequest) and verification (VerifySigV4). Requests are signed
// after translation, because the signature covers the exact body bytes.
//
// This is the only package in the module that imports aws-sdk-go-v2 or
// smithy-go; none of their types appear in its exported API.
package bedrock
