"""Agent messages through HTTP: sending, listing, threads, replies, read state, errors."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support import LiveServer, count_rows

FIELDS = "id sender recipient recipientKind subject body threadId inReplyToId read readAt createdAt"
SEND = f"mutation($input: SendMessageInput!) {{ sendMessage(input: $input) {{ {FIELDS} }} }}"
REPLY = f"""
mutation($id: ID!, $sender: String!, $body: String!, $subject: String) {{
  replyToMessage(messageId: $id, sender: $sender, body: $body, subject: $subject) {{ {FIELDS} }}
}}
"""
MARK_READ = f"mutation($id: ID!) {{ markMessageRead(id: $id) {{ {FIELDS} }} }}"
MESSAGE = f"query($id: ID!) {{ message(id: $id) {{ {FIELDS} }} }}"
MESSAGES = """
query($recipient: String, $unreadOnly: Boolean! = false, $first: Int, $after: String) {
  messages(recipient: $recipient, unreadOnly: $unreadOnly, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id subject } }
  }
}
"""
MISSING = "00000000-0000-0000-0000-000000000000"


def domain(core: LiveServer, slug: str) -> None:
    core.gql(
        "mutation($input: RegisterDomainInput!) { registerDomain(input: $input) { id } }",
        {"input": {"slug": slug, "name": slug.title()}},
    )


def send(core: LiveServer, subject: str = "Hello", body: str = "Hi there", **to: str) -> dict:
    message_input = {"sender": "agent-a", "subject": subject, "body": body, **to}
    return core.gql(SEND, {"input": message_input})["sendMessage"]


def reply(core: LiveServer, message_id: str, sender: str = "agent-b", **extra: str) -> dict:
    variables = {"id": message_id, "sender": sender, "body": "a reply", **extra}
    return core.gql(REPLY, variables)["replyToMessage"]


def subjects(core: LiveServer, **variables: object) -> list[str]:
    page = core.gql(MESSAGES, {"first": 500, **variables})["messages"]
    return [edge["node"]["subject"] for edge in page["edges"]]


def test_send_to_a_domain(core: LiveServer) -> None:
    domain(core, "custodian")
    message = send(core, subject="  Quarterly plan  ", body="Please review.", toDomain="custodian")
    assert message["sender"] == "agent-a"
    assert message["recipient"] == "custodian"
    assert message["recipientKind"] == "DOMAIN"
    assert message["subject"] == "Quarterly plan"
    assert message["body"] == "Please review."
    assert message["threadId"] == message["id"]
    assert message["inReplyToId"] is None
    assert message["read"] is False and message["readAt"] is None
    assert datetime.fromisoformat(message["createdAt"]).tzinfo is not None
    assert core.gql(MESSAGE, {"id": message["id"]})["message"] == message


def test_send_to_an_agent(core: LiveServer) -> None:
    message = send(core, toAgent="agent-z")
    assert (message["recipient"], message["recipientKind"]) == ("agent-z", "AGENT")
    assert message["threadId"] == message["id"]
    assert core.gql(MESSAGE, {"id": message["id"]})["message"]["recipientKind"] == "AGENT"


@pytest.mark.parametrize(
    "to",
    [{}, {"toDomain": "custodian", "toAgent": "agent-z"}, {"toDomain": "", "toAgent": ""}],
    ids=["neither", "both", "both-empty"],
)
def test_exactly_one_recipient_is_required(
    core: LiveServer, core_database_url: str, to: dict[str, str]
) -> None:
    domain(core, "custodian")
    error = core.error(SEND, {"input": {"sender": "a", "subject": "s", "body": "b", **to}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "exactly one" in error["message"]
    assert error["path"] == ["sendMessage"]
    assert count_rows(core_database_url, "agent_messages") == 0


def test_unknown_domain_is_not_found(core: LiveServer, core_database_url: str) -> None:
    message_input = {"sender": "a", "subject": "s", "body": "b", "toDomain": "nowhere"}
    error = core.error(SEND, {"input": message_input})
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "nowhere" in error["message"]
    assert count_rows(core_database_url, "agent_messages") == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("subject", ""), ("subject", "   "), ("body", ""), ("body", "\n\t "), ("sender", " ")],
)
def test_empty_text_is_rejected(
    core: LiveServer, core_database_url: str, field: str, value: str
) -> None:
    message_input = {"sender": "a", "subject": "s", "body": "b", "toAgent": "z", field: value}
    error = core.error(SEND, {"input": message_input})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == field
    assert count_rows(core_database_url, "agent_messages") == 0


def test_blank_agent_recipient_is_rejected(core: LiveServer, core_database_url: str) -> None:
    error = core.error(
        SEND, {"input": {"sender": "a", "subject": "s", "body": "b", "toAgent": "  "}}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(core_database_url, "agent_messages") == 0


def test_messages_are_newest_first_and_filtered_by_recipient(core: LiveServer) -> None:
    domain(core, "custodian")
    send(core, subject="one", toDomain="custodian")
    send(core, subject="two", toAgent="agent-z")
    send(core, subject="three", toDomain="custodian")
    send(core, subject="four", toAgent="agent-y")

    assert subjects(core) == ["four", "three", "two", "one"]
    assert subjects(core, recipient="custodian") == ["three", "one"]
    assert subjects(core, recipient="agent-z") == ["two"]
    assert subjects(core, recipient="nobody") == []
    everything = core.gql(MESSAGES)["messages"]
    assert everything["totalCount"] == 4
    assert everything["pageInfo"]["hasNextPage"] is False
    assert everything["pageInfo"]["hasPreviousPage"] is False


def test_pagination_walks_every_message_once(core: LiveServer) -> None:
    sent = [send(core, subject=f"m{i}", toAgent="agent-z")["subject"] for i in range(7)]
    send(core, subject="elsewhere", toAgent="agent-y")
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = core.gql(MESSAGES, {"recipient": "agent-z", "first": 3, "after": after})["messages"]
        assert page["totalCount"] == 7
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        seen += [edge["node"]["subject"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(reversed(sent))
    assert pages == 3


def test_first_page_holds_the_newest_messages(core: LiveServer) -> None:
    for i in range(5):
        send(core, subject=f"m{i}", toAgent="agent-z")
    page = core.gql(MESSAGES, {"first": 2})["messages"]
    assert [edge["node"]["subject"] for edge in page["edges"]] == ["m4", "m3"]
    assert page["totalCount"] == 5
    assert page["pageInfo"]["hasNextPage"] is True and page["pageInfo"]["hasPreviousPage"] is False
    whole = core.gql(MESSAGES, {"first": 5})["messages"]
    assert whole["pageInfo"]["hasNextPage"] is False
    assert len({edge["cursor"] for edge in whole["edges"]}) == 5


def test_empty_page_and_first_zero(core: LiveServer) -> None:
    empty = core.gql(MESSAGES)["messages"]
    assert empty["totalCount"] == 0 and empty["edges"] == []
    assert empty["pageInfo"]["startCursor"] is None and empty["pageInfo"]["endCursor"] is None
    send(core, toAgent="agent-z")
    none = core.gql(MESSAGES, {"first": 0})["messages"]
    assert none["totalCount"] == 1 and none["edges"] == []
    assert none["pageInfo"]["hasNextPage"] is True


def test_message_pagination_rejects_bad_arguments(core: LiveServer) -> None:
    send(core, toAgent="agent-z")
    for variables in ({"after": "garbage"}, {"first": -1}, {"first": 501}):
        error = core.error(MESSAGES, variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", variables


def test_reply_goes_to_the_original_sender_in_the_same_thread(core: LiveServer) -> None:
    domain(core, "custodian")
    original = send(core, subject="Budget", toDomain="custodian")
    answer = reply(core, original["id"], sender="custodian-bot")
    assert answer["sender"] == "custodian-bot"
    assert answer["recipient"] == "agent-a"
    assert answer["recipientKind"] == "AGENT"
    assert answer["threadId"] == original["id"]
    assert answer["inReplyToId"] == original["id"]
    assert answer["subject"] == "Re: Budget"
    assert answer["body"] == "a reply"
    assert answer["id"] != original["id"]
    assert subjects(core, recipient="agent-a") == ["Re: Budget"]


def test_reply_subject_prefix_is_not_doubled(core: LiveServer) -> None:
    original = send(core, subject="Budget", toAgent="agent-b")
    first = reply(core, original["id"], sender="agent-b")
    second = reply(core, first["id"], sender="agent-a")
    assert first["subject"] == "Re: Budget"
    assert second["subject"] == "Re: Budget"
    assert second["recipient"] == "agent-b"
    assert second["threadId"] == original["id"]
    assert second["inReplyToId"] == first["id"]
    shouting = send(core, subject="RE: already a reply", toAgent="agent-b")
    assert reply(core, shouting["id"])["subject"] == "RE: already a reply"


def test_reply_with_an_explicit_subject(core: LiveServer) -> None:
    original = send(core, subject="Budget", toAgent="agent-b")
    answer = reply(core, original["id"], subject="New topic")
    assert answer["subject"] == "New topic"
    assert answer["threadId"] == original["id"]


def test_thread_lists_the_conversation_oldest_first(core: LiveServer) -> None:
    original = send(core, subject="Budget", toAgent="agent-b")
    first = reply(core, original["id"], sender="agent-b")
    second = reply(core, first["id"], sender="agent-a")
    third = reply(core, original["id"], sender="agent-c")
    unrelated = send(core, subject="Other", toAgent="agent-b")

    expected = [original["id"], first["id"], second["id"], third["id"]]
    query = "query($id: ID!) { message(id: $id) { thread { id threadId } } }"
    for message_id in expected:
        thread = core.gql(query, {"id": message_id})["message"]["thread"]
        assert [m["id"] for m in thread] == expected
        assert {m["threadId"] for m in thread} == {original["id"]}
    alone = core.gql(query, {"id": unrelated["id"]})["message"]["thread"]
    assert alone == [{"id": unrelated["id"], "threadId": unrelated["id"]}]


def test_threads_of_a_whole_page(core: LiveServer) -> None:
    a = send(core, subject="A", toAgent="agent-b")
    b = send(core, subject="B", toAgent="agent-b")
    a_reply = reply(core, a["id"])
    query = "{ messages { nodes { id thread { id } } } }"
    nodes = core.gql(query)["messages"]["nodes"]
    threads = {node["id"]: [m["id"] for m in node["thread"]] for node in nodes}
    assert threads == {
        a_reply["id"]: [a["id"], a_reply["id"]],
        b["id"]: [b["id"]],
        a["id"]: [a["id"], a_reply["id"]],
    }


def test_mark_read_is_idempotent_and_keeps_the_first_read_time(core: LiveServer) -> None:
    message = send(core, toAgent="agent-z")
    first = core.gql(MARK_READ, {"id": message["id"]})["markMessageRead"]
    assert first["read"] is True
    read_at = datetime.fromisoformat(first["readAt"])
    assert read_at >= datetime.fromisoformat(message["createdAt"])

    again = core.gql(MARK_READ, {"id": message["id"]})["markMessageRead"]
    assert again["read"] is True and again["readAt"] == first["readAt"]
    stored = core.gql(MESSAGE, {"id": message["id"]})["message"]
    assert stored["read"] is True and stored["readAt"] == first["readAt"]
    assert {k: v for k, v in stored.items() if k not in ("read", "readAt")} == {
        k: v for k, v in message.items() if k not in ("read", "readAt")
    }


def test_unread_only(core: LiveServer) -> None:
    domain(core, "custodian")
    one = send(core, subject="one", toDomain="custodian")
    send(core, subject="two", toDomain="custodian")
    three = send(core, subject="three", toAgent="agent-z")
    assert subjects(core, unreadOnly=True) == ["three", "two", "one"]

    core.gql(MARK_READ, {"id": one["id"]})
    core.gql(MARK_READ, {"id": three["id"]})
    assert subjects(core, unreadOnly=True) == ["two"]
    assert subjects(core, unreadOnly=True, recipient="custodian") == ["two"]
    assert subjects(core, unreadOnly=True, recipient="agent-z") == []
    assert subjects(core) == ["three", "two", "one"]
    page = core.gql(MESSAGES, {"unreadOnly": True})["messages"]
    assert page["totalCount"] == 1


def test_unknown_message_ids(core: LiveServer, core_database_url: str) -> None:
    send(core, toAgent="agent-z")
    assert core.gql(MESSAGE, {"id": MISSING}) == {"message": None}
    error = core.error(REPLY, {"id": MISSING, "sender": "b", "body": "x"})
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["path"] == ["replyToMessage"]
    error = core.error(MARK_READ, {"id": MISSING})
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert count_rows(core_database_url, "agent_messages") == 1


@pytest.mark.parametrize("bad", ["not-a-uuid", "", "1234"])
def test_malformed_message_ids_are_bad_input(
    core: LiveServer, core_database_url: str, bad: str
) -> None:
    send(core, toAgent="agent-z")
    for query, variables in (
        (MESSAGE, {"id": bad}),
        (REPLY, {"id": bad, "sender": "b", "body": "x"}),
        (MARK_READ, {"id": bad}),
    ):
        error = core.error(query, variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", query
        assert error["extensions"]["argument"] == "id"
    assert count_rows(core_database_url, "agent_messages") == 1


def test_reply_with_empty_body_or_sender_changes_nothing(
    core: LiveServer, core_database_url: str
) -> None:
    original = send(core, toAgent="agent-b")
    for variables in ({"body": "  "}, {"sender": ""}):
        error = core.error(REPLY, {"id": original["id"], "sender": "b", "body": "x", **variables})
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert count_rows(core_database_url, "agent_messages") == 1
    thread = core.gql(
        "query($id: ID!) { message(id: $id) { thread { id } } }", {"id": original["id"]}
    )
    assert thread["message"]["thread"] == [{"id": original["id"]}]
