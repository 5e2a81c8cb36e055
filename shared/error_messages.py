"""The catalogue of error messages: code → (Simplified Chinese, English), with `{name}` placeholders.

The codes every service shares are here; each service registers its own with `register` when its API
module is imported. A code means one thing everywhere, so registering a code twice with other words fails.
"""
from collections.abc import Mapping
from typing import Any

MESSAGES: dict[str, tuple[str, str]] = {
    "unauthorized": ("需要有效的访问令牌（Authorization: Bearer …）", "a bearer token is required"),
    "invalid_token": ("访问令牌无效或已过期", "the bearer token is invalid or has expired"),
    "database_unavailable": ("数据库暂时不可用，本次请求未保存任何内容，请稍后重试",
                             "the database is unavailable; nothing was stored, retry shortly"),
    "identity_provider_unavailable": ("暂时无法获取身份认证服务的密钥，请稍后重试",
                                      "the identity provider's keys cannot be read; retry shortly"),
    "forbidden_role": ("当前角色无权执行此操作，需要以下角色之一：{roles}",
                       "your role may not do this; it needs one of the roles: {roles}"),
    "invalid_request": ("请求内容有误：{fields}", "the request is invalid: {fields}"),
    "no_route": ("请求的地址不存在", "no such address"),
    "method_not_allowed": ("该地址不支持此请求方法", "this address does not take this method"),
    "bad_request": ("请求无法处理", "the request cannot be handled"),
}


def register(messages: Mapping[str, tuple[str, str]]) -> None:
    """Add a service's codes to the catalogue."""
    for code, pair in messages.items():
        if MESSAGES.get(code, pair) != pair:
            raise ValueError(f"error code {code!r} is already registered with other messages")
        MESSAGES[code] = pair


# Reasons of a field error in Chinese, by pydantic's error type; other types keep a general reason.
_FIELD_REASONS_ZH = {
    "missing": "必填", "extra_forbidden": "不允许的字段", "string_too_long": "过长", "string_too_short": "过短",
    "too_short": "至少需要 {min_length} 项", "too_long": "最多 {max_length} 项",
    "literal_error": "取值须为 {expected} 之一", "enum": "取值须为 {expected} 之一",
    "timezone_aware": "须带时区（例如 2024-05-02T10:00:00+08:00）",
    "datetime_parsing": "不是有效的时间", "datetime_from_date_parsing": "不是有效的时间",
    "date_parsing": "不是有效的日期（YYYY-MM-DD）", "date_from_datetime_parsing": "不是有效的日期（YYYY-MM-DD）",
    "int_parsing": "须为整数", "bool_parsing": "须为 true 或 false", "uuid_parsing": "不是有效的编号",
    "greater_than_equal": "须不小于 {ge}", "less_than_equal": "须不大于 {le}", "greater_than": "须大于 {gt}",
    "string_type": "须为文本", "list_type": "须为列表", "model_attributes_type": "须为对象",
    "dict_type": "须为对象", "json_invalid": "不是有效的 JSON", "union_tag_invalid": "类型须为 {expected_tags} 之一",
    "union_tag_not_found": "缺少类型字段 {discriminator}",
}


def field_message(error: Mapping[str, Any]) -> str:
    """A field error's reason in Chinese (a validator's own reason is kept after it, it names the rule)."""
    template = _FIELD_REASONS_ZH.get(error.get("type", ""))
    if template is None:
        return f"取值无效：{error.get('msg', '')}"
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return template.split("{")[0].strip() or "取值无效"
