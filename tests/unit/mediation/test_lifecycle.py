"""The case lifecycle: the table of docs/design.md, "Case lifecycle", every illegal pair, random action sequences, messages."""
import itertools
import pickle
import re

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.mediation.domain.lifecycle import (
    STATE_LABELS_ZH,
    TERMINAL,
    Action,
    HandoffAction,
    HandoffState,
    IllegalHandoff,
    IllegalTransition,
    State,
    allowed_actions,
    illegal_transition_message,
    may_work,
    next_handoff_state,
    next_state,
)

S, A, H, HA = State, Action, HandoffState, HandoffAction
CJK = re.compile(r"[\u4e00-\u9fff]")

# (state, action, had_agreement or None for either, target), written out again so the tests are an independent oracle.
LEGAL = [(S.PENDING, A.CLAIM, None, S.CLAIMED), (S.CLAIMED, A.RELEASE, None, S.PENDING),
         (S.CLAIMED, A.EXPIRE, None, S.PENDING), (S.CLAIMED, A.RECORD_SESSION, None, S.IN_SESSION),
         (S.IN_SESSION, A.RECORD_SESSION, None, S.IN_SESSION), (S.IN_SESSION, A.REACH_AGREEMENT, None, S.AGREEMENT),
         (S.IN_SESSION, A.FAIL, None, S.FAILED), (S.FAILED, A.REFER, None, S.REFERRED),
         (S.REFERRED, A.CLOSE, None, S.CLOSED), (S.AGREEMENT, A.REQUEST_CONFIRMATION, None, S.CONFIRMATION_REQUESTED),
         (S.AGREEMENT, A.CLOSE, None, S.CLOSED), (S.CONFIRMATION_REQUESTED, A.CONFIRM, None, S.CONFIRMED),
         (S.CONFIRMATION_REQUESTED, A.REJECT_CONFIRMATION, None, S.CONFIRMATION_REJECTED),
         (S.CONFIRMED, A.CLOSE, None, S.CLOSED), (S.CONFIRMATION_REJECTED, A.CLOSE, None, S.CLOSED),
         (S.FAILED, A.CLOSE, None, S.CLOSED), (S.CLOSED, A.REPORT_BREACH, True, S.PENDING)]
LEGAL += [(s, A.WITHDRAW, None, S.WITHDRAWN) for s in S if s not in (S.CLOSED, S.WITHDRAWN)]
ORACLE = {(s, a, h): t for s, a, flag, t in LEGAL for h in ((True, False) if flag is None else (flag,))}
ILLEGAL = [p for p in itertools.product(S, A, (False, True)) if p not in ORACLE]
PROGRESSED = set(S) - {S.PENDING, S.CLAIMED, S.WITHDRAWN}  # states only a recorded session leads to


@pytest.mark.parametrize(("state", "action", "had_agreement", "target"), LEGAL)
def test_every_legal_transition(state, action, had_agreement, target):
    for flag in (True, False) if had_agreement is None else (had_agreement,):
        assert next_state(state, action, had_agreement=flag) is target
        assert action in allowed_actions(state, had_agreement=flag)


@pytest.mark.parametrize(("state", "action", "had_agreement"), ILLEGAL)
def test_every_other_pair_is_refused_with_the_allowed_actions(state, action, had_agreement):
    with pytest.raises(IllegalTransition) as caught:
        next_state(state, action, had_agreement=had_agreement)
    assert ((exc := caught.value).state, exc.action) == (state, action)
    assert exc.allowed == allowed_actions(state, had_agreement=had_agreement)
    assert CJK.search(illegal_transition_message(exc)) and STATE_LABELS_ZH[state] in illegal_transition_message(exc)
    assert illegal_transition_message(exc, "en") == str(exc) and not CJK.search(str(exc))


@pytest.mark.parametrize(("state", "had_agreement"), list(itertools.product(S, (False, True))))
def test_allowed_actions_are_the_table_in_declaration_order(state, had_agreement):
    expected = tuple(a for a in A if (state, a, had_agreement) in ORACLE)
    assert allowed_actions(state, had_agreement=had_agreement) == expected


def test_every_state_is_reachable_from_pending():
    seen, frontier = {S.PENDING}, [(S.PENDING, False)]
    while frontier:
        state, agreed = frontier.pop()
        for action in allowed_actions(state, had_agreement=agreed):
            target = next_state(state, action, had_agreement=agreed)
            if target not in seen:
                seen.add(target)
                frontier.append((target, agreed or target is S.AGREEMENT))
    assert seen == set(S)


def test_english_message_names_codes_and_chinese_uses_labels():
    with pytest.raises(IllegalTransition) as caught:
        next_state(S.IN_SESSION, A.CLAIM)
    assert str(caught.value) == ("cannot claim a case that is in_session; "
                                 "allowed: record_session, reach_agreement, fail, withdraw")
    zh = illegal_transition_message(caught.value)
    assert zh == "不能对“调解中”的案件执行“认领”；当前可执行：记录调解、达成协议、调解失败、撤回"
    assert illegal_transition_message(caught.value, "zh-CN") == zh
    assert illegal_transition_message(caught.value, "EN") == str(caught.value)
    pytest.raises(ValueError, illegal_transition_message, caught.value, "fr")


def test_terminal_labels_codes_and_pickling():
    assert TERMINAL == {S.CLOSED, S.WITHDRAWN}
    assert set(STATE_LABELS_ZH) == set(S) and STATE_LABELS_ZH[S.CONFIRMATION_REJECTED] == "司法确认被驳回"
    assert next_state("pending", "claim") is S.CLAIMED  # codes straight from a request body work
    pytest.raises(ValueError, next_state, "nonsense", A.CLAIM)  # an unknown code is an error, not a 409
    with pytest.raises(IllegalTransition) as caught:
        next_state(S.WITHDRAWN, A.CLOSE)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.state, copy.action, copy.allowed, str(copy)) == (S.WITHDRAWN, A.CLOSE, (), str(caught.value))
    assert str(copy).endswith("allowed: none") and illegal_transition_message(copy).endswith("当前可执行：无")


def test_handoffs():
    assert [next_handoff_state(H.REQUESTED, answer) for answer in (HA.ACCEPT, HA.REJECT)] == [H.ACCEPTED, H.REJECTED]
    for state, answer in itertools.product((H.ACCEPTED, H.REJECTED), HA):
        with pytest.raises(IllegalHandoff) as caught:
            next_handoff_state(state, answer)
        assert isinstance(caught.value, IllegalTransition) and caught.value.allowed == ()
        assert str(caught.value) == f"cannot {answer} a handoff that is {state}; allowed: none"
        assert ("已接收" if state is H.ACCEPTED else "已拒绝") in illegal_transition_message(caught.value)


@pytest.mark.parametrize(("state", "pending"), list(itertools.product(S, (False, True))))
def test_may_work(state, pending):
    assert may_work(state, pending) is (not pending and state not in TERMINAL)


class CaseMachine(RuleBasedStateMachine):
    """One case and its handoffs under random actions, checked against the oracle table."""

    def __init__(self):
        super().__init__()
        self.state, self.agreed = S.PENDING, False  # agreed: the current round reached an agreement
        self.sessions = self.round_sessions = self.seen_sessions = 0
        self.close_origin = None  # "agreement" or "failure": only the first may be reopened
        self.handoff, self.was_withdrawn = None, False

    def apply(self, action):
        if self.handoff is H.REQUESTED:
            assert not may_work(self.state, True)  # the service refuses; the case does not move
            return
        expected = ORACLE.get((self.state, action, self.agreed))
        if expected is None:
            with pytest.raises(IllegalTransition) as caught:
                next_state(self.state, action, had_agreement=self.agreed)
            assert caught.value.allowed == allowed_actions(self.state, had_agreement=self.agreed)
            assert STATE_LABELS_ZH[self.state] in illegal_transition_message(caught.value)
            assert illegal_transition_message(caught.value, language="en") == str(caught.value)
            return
        actual = next_state(self.state, action, had_agreement=self.agreed)
        assert actual is expected
        if action is A.REPORT_BREACH:
            assert self.close_origin == "agreement"
            self.agreed, self.round_sessions = False, 0  # a new round of mediation begins
        if action is A.CLOSE:
            self.close_origin = "agreement" if self.agreed else "failure"
        self.agreed |= action is A.REACH_AGREEMENT
        self.sessions += action is A.RECORD_SESSION
        self.round_sessions += action is A.RECORD_SESSION
        self.state, self.was_withdrawn = actual, self.was_withdrawn or actual is S.WITHDRAWN

    @rule(action=st.sampled_from(A))
    def any_action(self, action):
        self.apply(action)

    def onward(self):
        # Withdraw is left to any_action: offered here it would end most runs before the deep states.
        return [a for a in allowed_actions(self.state, had_agreement=self.agreed) if a is not A.WITHDRAW]

    @precondition(lambda self: self.onward())
    @rule(data=st.data())
    def legal_action(self, data):
        self.apply(data.draw(st.sampled_from(self.onward())))

    @precondition(lambda self: self.handoff is not H.REQUESTED and may_work(self.state, False))
    @rule()
    def request_handoff(self):
        self.handoff = H.REQUESTED

    @rule(answer=st.sampled_from(HA))
    def answer_handoff(self, answer):
        if self.handoff is H.REQUESTED:
            self.handoff = next_handoff_state(self.handoff, answer)
        elif self.handoff is not None:
            with pytest.raises(IllegalHandoff):
                next_handoff_state(self.handoff, answer)

    @invariant()
    def invariants(self):
        assert isinstance(self.state, State)  # what next_state returned, not the oracle's copy
        assert (self.state is S.WITHDRAWN) is self.was_withdrawn  # absorbing: once withdrawn, always
        if self.state is S.WITHDRAWN:  # allows nothing, whatever the agreement history
            assert allowed_actions(S.WITHDRAWN, had_agreement=True) == () == allowed_actions(S.WITHDRAWN)
        if self.state is S.CLOSED:
            reopenable = (A.REPORT_BREACH,) if self.close_origin == "agreement" else ()
            assert allowed_actions(S.CLOSED, had_agreement=self.agreed) == reopenable
        if self.state in PROGRESSED:
            assert self.round_sessions >= 1  # no outcome without a session in this round
        assert self.sessions >= self.seen_sessions
        self.seen_sessions = self.sessions
        assert may_work(self.state, self.handoff is H.REQUESTED) is (
            self.handoff is not H.REQUESTED and self.state not in TERMINAL)


TestCaseMachine = CaseMachine.TestCase
TestCaseMachine.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
