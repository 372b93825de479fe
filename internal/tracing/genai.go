package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"switchyard/internal/gateway"
	"switchyard/internal/llm"
	"switchyard/internal/route"
)

var _ gateway.Tracer = (*Tracer)(nil)

// codesError marks a failed span.
const codesError = codes.Error

// The switchyard.* attributes, beside the GenAI conventions' own.
const (
	attrTenant    = attribute.Key("switchyard.tenant")
	attrKeyID     = attribute.Key("switchyard.key_id")
	attrDialect   = attribute.Key("switchyard.dialect")
	attrRequestID = attribute.Key("switchyard.request_id")
	attrStrategy  = attribute.Key("switchyard.route.strategy")
	attrContracts = attribute.Key("switchyard.route.contracts")
	attrRoute     = attribute.Key("switchyard.route")
	attrAttempts  = attribute.Key("switchyard.attempts")
	attrChannel   = attribute.Key("switchyard.channel")
	attrCost      = attribute.Key("switchyard.cost_usd")
	attrTTFT      = attribute.Key("switchyard.time_to_first_token")
	attrFallback  = attribute.Key("switchyard.fallback.reason")
	attrError     = attribute.Key("error.type")
	attrStream    = attribute.Key("gen_ai.request.stream")
)

// operation is the GenAI operation name of a gateway endpoint.
func operation(endpoint string) string {
	switch endpoint {
	case "embeddings":
		return "embeddings"
	case "completions":
		return "text_completion"
	}
	return "chat"
}

// providerName is the GenAI conventions' gen_ai.provider.name of a
// channel type; types the conventions do not name pass as they are.
func providerName(typ string) string {
	switch typ {
	case "azure":
		return "azure.ai.openai"
	case "bedrock":
		return "aws.bedrock"
	case "gemini":
		return "gcp.gemini"
	case "vertex":
		return "gcp.vertex_ai"
	case "openai", "openai-compatible":
		return "openai"
	}
	return typ
}

// Begin names the request's server span per the conventions ("chat
// {model}") and adds the call's and the request's parameters. Message
// content never goes on a span here: if it ever does (opt-in, as payload
// capture allows), this is the one place.
func (t *Tracer) Begin(ctx context.Context, call *gateway.Call, req *llm.Request) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	op := operation(call.Endpoint)
	model := truncate(call.Model, maxValue)
	span.SetName(op + " " + model)
	attrs := make([]attribute.KeyValue, 0, 16)
	attrs = append(attrs, semconv.GenAIOperationNameKey.String(op), semconv.GenAIRequestModel(model),
		attrTenant.String(call.Tenant), attrKeyID.String(call.KeyID), attrDialect.String(call.Dialect),
		attrRequestID.String(call.RequestID))
	if req != nil {
		attrs = append(attrs, attrStream.Bool(req.Stream))
		if req.MaxTokens > 0 {
			attrs = append(attrs, semconv.GenAIRequestMaxTokens(req.MaxTokens))
		}
		if req.Temperature != nil {
			attrs = append(attrs, semconv.GenAIRequestTemperature(*req.Temperature))
		}
		if req.TopP != nil {
			attrs = append(attrs, semconv.GenAIRequestTopP(*req.TopP))
		}
		if req.TopK != nil {
			attrs = append(attrs, semconv.GenAIRequestTopK(float64(*req.TopK)))
		}
		if req.Seed != nil {
			attrs = append(attrs, semconv.GenAIRequestSeed(int(*req.Seed)))
		}
		if req.N > 1 {
			attrs = append(attrs, semconv.GenAIRequestChoiceCount(req.N))
		}
		if n := len(req.Stop); n > 0 {
			attrs = append(attrs, semconv.GenAIRequestStopSequences(req.Stop[:min(n, maxStops)]...))
		}
	}
	span.SetAttributes(attrs...)
}

// maxStops bounds the stop sequences put on a span.
const maxStops = 8

// Attempt opens a client span for one attempt on off's channel, named as
// the conventions name a call to a model ("chat {upstream model}"), as a
// child of the request's span.
func (t *Tracer) Attempt(ctx context.Context, call *gateway.Call, off route.Offering) (context.Context, gateway.AttemptSpan) {
	if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
		return ctx, nopSpan{}
	}
	op := operation(call.Endpoint)
	ctx, span := t.tracer.Start(ctx, op+" "+off.UpstreamModel, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(semconv.GenAIOperationNameKey.String(op), semconv.GenAIProviderNameKey.String(providerName(off.ProviderType)),
			semconv.GenAIRequestModel(off.UpstreamModel), attrChannel.String(off.Provider))
	}
	return ctx, attemptSpan{span}
}

type attemptSpan struct{ span trace.Span }

func (a attemptSpan) End(out gateway.AttemptOutcome) {
	if a.span.IsRecording() {
		a.span.SetAttributes(semconv.HTTPResponseStatusCode(out.Status))
		if out.ErrorKind != "" {
			a.span.SetAttributes(attrError.String(truncate(out.ErrorKind, maxValue)))
			a.span.SetStatus(codes.Error, out.ErrorKind)
		}
		if out.Fallback != "" {
			a.span.SetAttributes(attrFallback.String(out.Fallback))
		}
	}
	a.span.End()
}

type nopSpan struct{}

func (nopSpan) End(gateway.AttemptOutcome) {}

// End adds the request's outcome to its server span: the channel that
// answered, the answer's id, model and finish reason, its usage and cost,
// the route decision and the time to the first token of a stream.
func (t *Tracer) End(ctx context.Context, call *gateway.Call, res *gateway.Result, out gateway.Outcome) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 16)
	if off, ok := answered(res); ok {
		attrs = append(attrs, semconv.GenAIProviderNameKey.String(providerName(off.ProviderType)), attrChannel.String(off.Provider))
	}
	if out.ResponseModel != "" {
		attrs = append(attrs, semconv.GenAIResponseModel(truncate(out.ResponseModel, maxValue)))
	} else if res.UpstreamModel != "" && out.Status == 200 {
		attrs = append(attrs, semconv.GenAIResponseModel(res.UpstreamModel))
	}
	if out.ResponseID != "" {
		attrs = append(attrs, semconv.GenAIResponseID(truncate(out.ResponseID, maxValue)))
	}
	if out.FinishReason != "" {
		attrs = append(attrs, semconv.GenAIResponseFinishReasons(string(out.FinishReason)))
	}
	if out.Status == 200 || res.Usage != (llm.Usage{}) {
		attrs = append(attrs, semconv.GenAIUsageInputTokens(int(res.Usage.InputTokens)),
			semconv.GenAIUsageOutputTokens(int(res.Usage.OutputTokens)), attrCost.Float64(res.CostUSD))
	}
	if d := res.Decision; d != nil {
		attrs = append(attrs, attrStrategy.String(d.Strategy), attrRoute.String(res.RouteHeader()))
		if len(d.Contracts) > 0 {
			attrs = append(attrs, attrContracts.StringSlice(d.Contracts))
		}
	}
	attrs = append(attrs, attrAttempts.Int(len(res.Attempted)))
	if out.Stream && res.TTFB > 0 {
		attrs = append(attrs, attrTTFT.Float64(res.TTFB.Seconds()))
	}
	if out.ErrorKind != "" {
		attrs = append(attrs, attrError.String(truncate(out.ErrorKind, maxValue)))
		if out.Status >= 500 {
			span.SetStatus(codes.Error, out.ErrorKind)
		}
	}
	span.SetAttributes(attrs...)
}

// answered is the offering of the channel that served (or last failed)
// the request.
func answered(res *gateway.Result) (route.Offering, bool) {
	if res.Decision == nil || res.Provider == "" {
		return route.Offering{}, false
	}
	for _, off := range res.Decision.Order {
		if off.Provider == res.Provider {
			return off, true
		}
	}
	return route.Offering{}, false
}
