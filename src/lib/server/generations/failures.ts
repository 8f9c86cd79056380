// Why a generation did not become a picture, said for the person who asked for it. The raw error,
// its stack and any server paths stay with the job (the console shows them); users get the class of
// the failure and advice that fits it. The class travels from the handler in the job's
// error_details.class, and the generations trigger (0017) copies it onto the generation.

export const FAILURE_CLASSES = [
	'storage',
	'input',
	'safety',
	'provider',
	'model',
	'timeout',
	'worker_lost',
	'unavailable',
	'cancelled_by_operator',
	'internal'
] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

export interface FailureView {
	class: FailureClass;
	/** What happened, in one sentence. */
	title: string;
	/** What to do about it. */
	advice: string;
}

const MESSAGES: Record<FailureClass, Omit<FailureView, 'class'>> = {
	storage: {
		title: 'The picture was made but could not be saved.',
		advice: 'This is a fault on our side, not in your prompt. Try again in a few minutes with the same settings.'
	},
	input: {
		title: 'The model could not take these settings.',
		advice: 'Change the size or the prompt as the message says, then try again.'
	},
	safety: {
		title: "The model's safety filter blocked this picture.",
		advice: 'Rephrase the prompt, leaving out anything a safety filter could object to.'
	},
	provider: {
		title: 'The model service was busy or unreachable.',
		advice: 'Wait a minute, then try again with the same settings.'
	},
	model: {
		title: 'The model failed while making this picture.',
		advice: 'Try again with another seed, or another model.'
	},
	timeout: {
		title: 'It took too long, so it was stopped.',
		advice: 'Try again later, or with a smaller size.'
	},
	worker_lost: {
		title: 'The worker making it stopped responding.',
		advice: 'Try again with the same settings; the operators have been told through their console.'
	},
	unavailable: {
		title: 'This model is not available any more.',
		advice: 'Reuse the settings with another model.'
	},
	cancelled_by_operator: {
		title: 'An operator cancelled it.',
		advice: 'The service may be under maintenance. Try again later.'
	},
	internal: {
		title: 'Something went wrong on our side.',
		advice: 'Try again. If it keeps failing, tell the operators which picture it was.'
	}
};

const isClass = (value: string | null): value is FailureClass => (FAILURE_CLASSES as readonly (string | null)[]).includes(value);

/** The failure a user sees, or null when nothing failed. */
export function failureView(status: string, failureClass: string | null): FailureView | null {
	if (status !== 'failed' && !(status === 'cancelled' && failureClass === 'cancelled_by_operator') && !(status === 'queued' && failureClass)) return null;
	const cls: FailureClass = isClass(failureClass) ? failureClass : 'internal';
	return { class: cls, ...MESSAGES[cls] };
}

/** Marks an error with its class, for the job's error_details (and so the generation's failure). */
export function classified<E extends Error>(error: E, failureClass: FailureClass): E {
	const carrier = error as E & { details?: Record<string, unknown> };
	carrier.details = { ...carrier.details, class: failureClass };
	return error;
}
