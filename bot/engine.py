"""The conversation manager: one neutral event and the world in, changed world and actions out.

Pure by design: no I/O, no wall clock (time is `world.now`), no platform types. That makes every
SOP rule testable in milliseconds with a fake clock and keeps adapters thin.
"""

from __future__ import annotations

from bot.config import Settings
from bot.domain import Case, CaseState, Conversation, SurveyStage
from bot.events import (
    Action,
    ConversationStarted,
    CustomerAction,
    CustomerMessage,
    CustomerNamed,
    CustomerTyping,
    Event,
    Heard,
    RecordOfferOutcome,
    Say,
    StaffCommand,
    StaffPresence,
    TimerFired,
)
from bot.flows import articles, callback, consult, escalation, idle, intake, offline, ownership, queue, resolution, staff, survey
from bot.language import Cues
from bot.turn import Services, Turn
from bot.world import World

_TIMER_HANDLERS = {
    articles.CHECK_TIMER: articles.on_check_timer,
    idle.PROMPT_TIMER: idle.on_prompt_timer,
    idle.WARN_TIMER: idle.on_warn_timer,
    idle.END_TIMER: idle.on_end_timer,
    idle.HOLD_TIMER: idle.on_hold_timer,
    consult.CLAIM_TIMER: consult.on_claim_timer,
    consult.IDLE_TIMER: consult.on_idle_timer,
    consult.IDLE_WARN_TIMER: consult.on_idle_warn_timer,
    consult.IDLE_END_TIMER: consult.on_idle_end_timer,
    queue.ALERT_TIMER: queue.on_alert_timer,
    queue.UPDATE_TIMER: queue.on_update_timer,
    ownership.GONE_TIMER: ownership.on_gone_timer,
    resolution.CLOSE_TIMER: resolution.on_close_timer,
    escalation.DEV_STATUS_TIMER: escalation.on_dev_status_timer,
    escalation.TIER2_ALERT_TIMER: escalation.on_tier2_alert_timer,
}
_LIVE_STATES = (CaseState.WITH_AGENT, CaseState.ESCALATED, CaseState.WAITING_ON_DEVELOPMENT)


class ConversationManager:
    def __init__(self, settings: Settings, services: Services) -> None:
        self.settings = settings
        self.services = services

    def handle(self, event: Event, world: World) -> list[Action]:
        turn = Turn(self.settings, self.services, world)
        match event:
            case ConversationStarted():
                self._greet(turn)
            case CustomerMessage(text=text):
                self._customer_message(turn, text)
            case CustomerAction():
                self._customer_action(turn, event)
            case CustomerNamed(name=name):
                self._named(turn, name)
            case CustomerTyping():
                case = world.current_case()
                if case is not None and case.state is CaseState.WITH_AGENT:
                    idle.customer_typing(turn, case)
            case StaffCommand():
                staff.handle(turn, event)
            case StaffPresence(staff_id=staff_id, online=online):
                ownership.presence(turn, staff_id, online)
            case TimerFired(kind=kind, case_id=case_id):
                case = world.cases.get(case_id)
                handler = _TIMER_HANDLERS.get(kind)
                if case is not None and handler is not None:
                    handler(turn, case)
        return turn.finish()

    # ----- customers ----------------------------------------------------------------------------

    def _named(self, turn: Turn, name: str) -> None:
        """A name learnt late fills in what is still blank; a name already known is kept."""
        conversation = _conversation(turn)
        if not conversation.customer_name:
            conversation.customer_name = name
        case = turn.world.current_case()
        if case is not None and not case.customer_name:
            case.customer_name = _first_name(name)

    def _greet(self, turn: Turn) -> None:
        turn.actions.append(Say(_conversation(turn).id, None, turn.spiel("greeting")))

    def _customer_message(self, turn: Turn, raw: str) -> None:
        text = raw.strip()
        if not text:
            return
        conversation = _conversation(turn)
        case = turn.world.current_case()
        if text.startswith("/"):
            turn.actions.append(Heard(conversation.id, case.id if case else None, text))
            self._customer_command(turn, case, text)
            return
        if case is not None and not case.is_open and self._survey_answer(turn, case, text):
            return
        if case is not None and not case.is_open and turn.services.cues.is_goodbye(text):
            turn.actions.append(Heard(conversation.id, case.id, text))  # a sign-off is not a new need
            turn.say(case, turn.to_customer("chat_closing", case))
            if case.state is CaseState.RESOLVED:
                resolution.close(turn, case)
            return
        if case is None or not case.is_open or self._new_need_after_ticket(turn, conversation, case):
            conversation.new_case_next = False
            case = self._open_case(turn, conversation, previous=case, problem=text)
            if not self._cue(turn, case, text):
                intake.absorb(case, text)
                self._after_details(turn, case)
            return
        turn.actions.append(Heard(conversation.id, case.id, text))
        if case.state is CaseState.WITH_AGENT and idle.customer_spoke(turn, case, text):
            return  # their sign-off closed the chat (SOP 003)
        if callback.take_number(turn, case, text) or self._cue(turn, case, text):
            return
        self._continue(turn, case, text)

    def _new_need_after_ticket(self, turn: Turn, conversation: Conversation, case: Case) -> bool:
        """A ticket stays open for the team to answer, but the customer's /new, or a message long
        after the ticket was taken, is a new need: a new case, not more text on the old ticket."""
        if case.state is not CaseState.TICKETED:
            return False
        late = case.ticketed_at is not None and turn.now - case.ticketed_at > turn.settings.offline.add_within
        return conversation.new_case_next or late

    def _survey_answer(self, turn: Turn, case: Case, text: str) -> bool:
        """A typed 1-5 rates the finished case (once); the next text, while it is resolved, is the comment."""
        rating = survey.rating_in(text)
        commenting = case.survey is SurveyStage.COMMENT and case.state is CaseState.RESOLVED
        if rating is None and not commenting:
            return False
        if rating is not None and case.survey is SurveyStage.NOT_ASKED:
            return False
        turn.actions.append(Heard(case.conversation_id, case.id, text))
        if rating is None:
            survey.comment(turn, case, text)
        else:
            survey.rate(turn, case, rating)
        return True

    def _continue(self, turn: Turn, case: Case, text: str) -> None:
        match case.state:
            case CaseState.NEW:
                intake.absorb(case, text)
                if Cues.SKIP not in turn.services.cues.find(text) and not case.problem:
                    case.problem = text
                self._after_details(turn, case)
            case CaseState.SELF_SERVICE:
                articles.on_text(turn, case, text)
            case CaseState.QUEUED:
                intake.absorb(case, text)
                queue.on_text_while_queued(turn, case)
            case CaseState.TICKETED:
                offline.on_text(turn, case, text)
            case _ if case.state in _LIVE_STATES:
                intake.absorb(case, text)
                if case.state is not CaseState.WITH_AGENT:
                    turn.say(case, turn.spiel("case_added", case=case.number))
                if case.agent_id:
                    turn.notify([case.agent_id], text, "customer_message", case)
                turn.changed(case)

    def _cue(self, turn: Turn, case: Case, text: str) -> bool:
        """Manager and call-back requests work at any point of an open case; True when the message
        was that request and nothing more."""
        cues = turn.services.cues.find(text)
        if Cues.MANAGER in cues:
            escalation.customer_wants_manager(turn, case)
            return True
        if Cues.CALLBACK in cues and turn.services.cues.asks_for_callback(text):
            callback.request(turn, case, text)
            return not callback.says_more(turn.services.cues, text)  # a problem described too goes on as usual
        return False

    def _after_details(self, turn: Turn, case: Case) -> None:
        if not intake.ask_if_needed(turn, case):
            articles.offer_or_route(turn, case)

    def _open_case(self, turn: Turn, conversation: Conversation, *, previous: Case | None, problem: str) -> Case:
        """A new need is always a new case, linked to the previous one, never a reopen (SOP 000).

        `problem` is the customer's message that opened it, kept in the transcript before the reply.
        """
        world = turn.world
        case = Case(
            id=world.next_case_id,
            number=turn.settings.cases.number_format.format(world.next_case_id),
            conversation_id=conversation.id,
            created_at=turn.now,
            previous_case_id=previous.id if previous else None,
            customer_name=_first_name(conversation.customer_name),
            problem=problem,
        )
        world.next_case_id += 1
        world.cases[case.id] = case
        conversation.case_id = case.id
        turn.actions.append(Heard(conversation.id, case.id, problem))
        if previous is not None:
            carried = turn.settings.intake.carry_over
            case.details.update({k: v for k, v in previous.details.items() if k in carried})
            case.previously_helped = _recently_helped(turn, previous)
            if previous.state is CaseState.RESOLVED:
                resolution.close(turn, previous)
            turn.say(case, turn.spiel("case_opened_linked", case=case.number, previous=previous.number))
        else:
            turn.say(case, turn.spiel("case_opened", case=case.number))
        turn.changed(case)
        return case

    def _customer_command(self, turn: Turn, case: Case | None, text: str) -> None:
        """/new starts a fresh case, /agent asks for a person; anything else gets the help text."""
        conversation = _conversation(turn)
        name = text[1:].split(maxsplit=1)[0].lower() if len(text) > 1 else ""
        if name == "new":
            if case is not None and case.state is CaseState.TICKETED:  # the ticket stays with the team
                conversation.new_case_next = True
            elif case is not None and case.is_open:
                if case.state not in (CaseState.NEW, CaseState.SELF_SERVICE):
                    turn.say(case, turn.spiel("new_case_refused", case=case.number))
                    return
                if case.state is CaseState.SELF_SERVICE and not case.offer_answered:
                    turn.actions.append(RecordOfferOutcome(case.id, "no_answer"))
                resolution.close(turn, case)
            turn.actions.append(Say(conversation.id, None, turn.spiel("greeting")))
        elif name == "agent" and case is not None and case.state is CaseState.SELF_SERVICE:
            articles.not_helped(turn, case)
        elif name == "agent" and case is not None and case.state is CaseState.NEW:
            queue.route_to_person(turn, case)
        else:
            turn.actions.append(Say(conversation.id, case.id if case else None, turn.spiel("help_customer")))

    def _customer_action(self, turn: Turn, event: CustomerAction) -> None:
        conversation = _conversation(turn)
        action_id = event.action_id
        case_id, rest = event.case_and_detail()
        case = turn.world.cases.get(case_id) if case_id is not None else None
        if case is None or case.conversation_id != conversation.id:
            turn.actions.append(Say(conversation.id, None, turn.spiel("stale_button")))
            return
        label = _button_label(turn, action_id, rest)
        turn.actions.append(Heard(conversation.id, case.id, label))
        if action_id in (survey.RATE, survey.SKIP):
            if action_id == survey.RATE and rest.isdigit() and 1 <= int(rest) <= 5:
                survey.rate(turn, case, int(rest))
            elif action_id == survey.SKIP:
                survey.comment(turn, case, "")
            return
        if action_id in (queue.LEAVE_MESSAGE, queue.KEEP_WAITING):
            if case.state is not CaseState.QUEUED:
                turn.say(case, turn.spiel("stale_button"))
            elif action_id == queue.LEAVE_MESSAGE:
                queue.leave_a_message(turn, case)
            else:
                queue.keep_waiting(turn, case)
            return
        if case.state is not CaseState.SELF_SERVICE or action_id not in (
            articles.SOLVED, articles.MORE_HELP, articles.CHECK_YES, articles.CHECK_NO
        ):
            turn.say(case, turn.spiel("stale_button"))
            return
        if action_id in (articles.SOLVED, articles.CHECK_YES):
            articles.helped(turn, case, rest or None)
        else:
            articles.not_helped(turn, case)


def _conversation(turn: Turn) -> Conversation:
    if turn.world.conversation is None:
        raise LookupError("a customer event needs its conversation loaded")
    return turn.world.conversation


def _button_label(turn: Turn, action_id: str, rest: str) -> str:
    spiels = turn.settings.spiels
    labels = {
        articles.SOLVED: spiels.solved_button,
        articles.MORE_HELP: spiels.still_need_help_button,
        articles.CHECK_YES: spiels.check_yes_button,
        articles.CHECK_NO: spiels.check_no_button,
        survey.SKIP: spiels.survey_skip_button,
        queue.LEAVE_MESSAGE: spiels.leave_message_button,
        queue.KEEP_WAITING: spiels.keep_waiting_button,
    }
    return rest if action_id == survey.RATE else labels.get(action_id, action_id)


def _recently_helped(turn: Turn, previous: Case) -> str | None:
    """The article that solved `previous`, if that was within `knowledge.came_back_days`: the new case
    carries it so the offer can tell, from this world alone, that the customer came back."""
    window = turn.settings.knowledge.came_back_days * 86400
    if previous.helped_article is None or previous.resolved_at is None or not window:
        return None
    return previous.helped_article if turn.now - previous.resolved_at <= window else None


def _first_name(name: str) -> str:
    return name.split(" ")[0] if name else ""
