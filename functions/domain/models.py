"""OpenAI-compatible request and response models of the data plane."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
)

from functions.domain.completion import CompletionRequest, Turn


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: StrictStr


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: Annotated[StrictStr, Field(max_length=1_000_000)] | Annotated[list[TextPart], Field(min_length=1)]
    name: StrictStr | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


Number = StrictInt | StrictFloat


class StreamOptions(BaseModel):
    """OpenAI's `stream_options`: only with `stream: true`; a field it does not know is refused by name."""

    model_config = ConfigDict(extra="forbid")
    include_usage: StrictBool | None = None


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's chat completion request this gateway honours. Unknown fields are
    ignored, as OpenAI SDKs send optional ones (n, logprobs, ...) that do not change routing."""

    model_config = ConfigDict(extra="ignore")

    model: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=1024)]
    max_tokens: Annotated[StrictInt, Field(ge=1, le=200_000)] | None = None
    max_completion_tokens: Annotated[StrictInt, Field(ge=1, le=200_000)] | None = None
    temperature: Annotated[Number, Field(ge=0, le=2)] | None = None
    top_p: Annotated[Number, Field(ge=0, le=1)] | None = None
    stop: StrictStr | Annotated[list[StrictStr], Field(max_length=4)] | None = None
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    user: Annotated[StrictStr, Field(max_length=256)] | None = None
    metadata: dict[StrictStr, StrictStr] | None = None

    @field_validator("messages")
    @classmethod
    def _needs_a_user_turn(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if not any(m.role in ("user", "assistant") for m in messages):
            raise ValueError("messages must contain at least one user or assistant message")
        return messages

    @field_validator("stream_options")
    @classmethod
    def _only_when_streaming(cls, options: StreamOptions | None, info: ValidationInfo) -> StreamOptions | None:
        if options is not None and info.data.get("stream") is not True:
            raise ValueError("stream_options is only allowed with stream: true")
        return options

    @property
    def include_usage(self) -> bool:
        """Whether a stream ends with a usage chunk (`stream_options.include_usage`)."""
        return bool(self.stream_options and self.stream_options.include_usage)

    def to_completion_request(self) -> CompletionRequest:
        system = tuple(m.text() for m in self.messages if m.role in ("system", "developer"))
        turns = tuple(Turn(m.role, m.text()) for m in self.messages if m.role in ("user", "assistant"))
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return CompletionRequest(
            turns=turns,
            system=system,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            temperature=None if self.temperature is None else float(self.temperature),
            top_p=None if self.top_p is None else float(self.top_p),
            stop=stop,
            requested_model=self.model,
        )


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ErrorBody(BaseModel):
    type: str
    message: str
    code: str
    param: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
