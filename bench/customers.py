"""Scripted web chat customers: realistic journeys through the bot-only path.

With business hours always open and no agent online, a customer's case goes
intake (the bot asks for missing details once) -> help-article offer (when the
ranking is confident) -> offline ticket, and every later message is added to the
case. A journey is a fixed list of messages chosen up front, so the load does not
depend on reading replies; the bench checks replies separately.

Every message here gets at least one bot reply in every state it can reach
(NEW, SELF_SERVICE, TICKETED, RESOLVED with the survey asked). The texts avoid
the manager and call-back cues and slash commands, which leave the bot-only path.
"""

from __future__ import annotations

import random
import string

_FIRST = ["jo", "sam", "alex", "maria", "li", "priya", "tom", "ana", "kofi", "emma", "noah", "sara", "diego", "mei"]
_LAST = ["smith", "garcia", "nguyen", "okafor", "brown", "kowalski", "patel", "jones", "silva", "chen", "murphy"]
_DOMAINS = ["example.com", "school.example.org", "mail.example.net", "district42.example.edu"]
_BROWSERS = ["Chrome", "Firefox", "Safari", "Edge", "Chrome on a Chromebook", "Safari on my iPad"]
_ID_KINDS = ["user ID", "class ID", "child ID", "student ID", "account number"]

# (problem, error message, steps): problems mostly match a help article, some match none.
_PROBLEMS = [
    ("I can't log in to my account", "Email not recognised", "I clicked Sign in, then typed my email and password"),
    ("my account is locked after a few tries", "Too many failed login attempts", "I went to the login page and entered my password three times"),
    ("I forgot my password and the reset link is not working", "This link has expired", "I clicked Forgot password, then opened the email link"),
    ("the page won't load, I just see a blank white screen", "Something went wrong", "I opened the dashboard and then clicked on my class"),
    ("the video lesson is not playing", "Video unavailable", "I opened the lesson, then pressed play"),
    ("I want to export grades for report cards", "Export failed", "I went to Gradebook, selected my class and clicked Export"),
    ("I was charged twice for my yearly subscription and want a refund", "Payment declined", "I went to Billing and clicked Upgrade"),
    ("my students can't join the class with the class code", "The code is invalid", "they typed the code on the Join class page"),
    ("I lost my phone and can't get the 2FA code", "Invalid verification code", "I entered my password, then typed the code from my old backup"),
    ("I need to add my child to my parent account", "Child not found", "I clicked Add child and entered the code from the teacher"),
    ("Google Classroom sync stopped importing my roster", "Sync error 502", "I opened Integrations and clicked Sync now"),
    ("the mobile app keeps crashing on start", "App stopped", "I opened the app after the update"),
    ("I need an invoice with my school's address for our finance office", "", ""),
    ("my co-teacher cannot see the grades in our shared class", "Access denied", "she opened the class and went to Gradebook"),
    ("the quiz timer ran out early for half my class today", "Session ended", "students started the quiz and then it closed after two minutes"),
    ("our district wants to know if you store data in the EU", "", ""),
    ("the certificate PDF prints with the wrong name on it", "", "I opened Certificates and clicked Print"),
    ("leaderboard points disappeared for my whole class overnight", "", ""),
]

_FOLLOW_UPS = [
    "It started after the update on Monday.",
    "This is affecting about 25 students in my class.",
    "I also tried another browser and got the same thing.",
    "Is there any workaround I can use before tomorrow morning's lesson?",
    "I cleared my cache and cookies but nothing changed.",
    "It works on my laptop at home but not on the school computers.",
    "Just checking in, any update on this?",
    "Please reply to my school email, I don't check the other one.",
    "Some students see it, others don't.",
    "Thanks, I'll wait for your email.",
]

_SKIPS = ["skip", "Skip, I don't have those", "not sure, skip", "I don't know"]
_MORE_HELP = ["I still need help", "That didn't help, I still need help", "No, it still doesn't work"]
_SOLVED = ["That worked, thanks!", "Yes, that helped", "It worked, thank you"]


class CustomerScript:
    """Makes customers and their journeys from one seeded random source (reproducible runs)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def _identity(self) -> dict[str, str]:
        rng = self.rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        digits = "".join(rng.choices(string.digits, k=rng.randint(4, 7)))
        return {
            "email": f"{first}.{last}{rng.randint(1, 9999)}@{rng.choice(_DOMAINS)}",
            "account": f"my {rng.choice(_ID_KINDS)} is {rng.choice('UCSA')}{digits}",
            "browser": rng.choice(_BROWSERS),
        }

    def first_message(self) -> str:
        """A problem description with every detail intake asks for (one message per conversation)."""
        who = self._identity()
        problem, error, steps = self.rng.choice(_PROBLEMS)
        parts = [f"Hi, {problem}."]
        if error:
            parts.append(f'The error says "{error}".')
        if steps:
            parts.append(f"{steps[0].upper()}{steps[1:]}.")
        parts.append(f"I'm using {who['browser']}, {who['account']} and my email is {who['email']}.")
        return " ".join(parts)

    def journey(self) -> list[str]:
        """One conversation's customer messages, 2 to 7 of them."""
        rng = self.rng
        who = self._identity()
        problem, error, steps = rng.choice(_PROBLEMS)
        detail = rng.random()
        messages: list[str] = []
        if detail < 0.3:  # everything intake needs in one go: straight to the article offer
            messages.append(self.first_message())
        elif detail < 0.75:  # some details; intake asks once for the rest
            text = f"Hello, {problem}."
            if error and rng.random() < 0.6:
                text += f" It says '{error}'."
            if rng.random() < 0.5:
                text += f" I'm on {who['browser']}."
            messages.append(text)
            if rng.random() < 0.6:
                reply = f"Sure: {who['account']}, email {who['email']}."
                if steps:
                    reply += f" Steps: {steps}."
                messages.append(reply)
            else:
                messages.append(rng.choice(_SKIPS))
        else:  # a bare problem statement, then 'skip' when asked for details
            messages.append(problem[0].upper() + problem[1:])
            messages.append(rng.choice(_SKIPS))
        # Articles on offer (or already ticketed): most still need help, a few are sorted.
        if rng.random() < 0.15:
            messages.append(rng.choice(_SOLVED))
            messages.append(str(rng.randint(3, 5)))  # the survey rating (or added to a ticket)
        else:
            messages.append(rng.choice(_MORE_HELP))
            if rng.random() < 0.5:
                messages.append(f"You can reach me at {who['email']}.")
            messages.extend(rng.sample(_FOLLOW_UPS, k=rng.randint(0, 3)))
        return messages
