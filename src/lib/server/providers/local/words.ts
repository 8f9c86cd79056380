// What the local model "understands" of a prompt: words that pick a palette, a landscape and a
// mood. Words in the negative prompt take those ideas out again ("no fog", "night").
import type { ThemeName } from './palette';

export type LandKind = 'mountains' | 'hills' | 'dunes' | 'waves' | 'trees' | 'city';
export type Mood = 'night' | 'fog';

type Tag = `theme:${ThemeName}` | `land:${LandKind}` | `mood:${Mood}`;

// Stems: a word matches when it starts with the stem ("mountains", "mountainous" -> "mountain").
// Short stems match whole words only, so "sun" does not catch "sunday".
const VOCABULARY: Record<Tag, string> = {
	'theme:sunset':
		'sunset sunrise dusk dawn autumn fire flame warm orange red golden gold evening volcan lava amber sun',
	'theme:ocean':
		'ocean sea wave water beach coast lake river blue underwater rain harbo bay island aqua surf',
	'theme:forest':
		'forest tree wood jungle green moss leaf leaves garden grass fern pine emerald nature',
	'theme:night': 'night midnight dark moon star galax space cosmic nebula',
	'theme:neon': 'neon cyber synth retro vapor laser electric arcade purple magenta futur',
	'theme:desert': 'desert dune sand canyon sahara arid mesa cactus',
	'theme:winter': 'winter snow ice icy frozen glacier arctic frost cold polar',
	'theme:pastel': 'pastel pink flower blossom spring candy dream soft cherry lavender rose peach',
	'land:mountains': 'mountain peak alps ridge cliff summit volcan range canyon himalaya rock',
	'land:waves': 'ocean sea wave water beach coast lake river underwater surf harbo bay shore',
	'land:trees': 'forest tree wood jungle pine fir',
	'land:city': 'city urban street skyline building tower town downtown cyber metropol skyscraper',
	'land:hills': 'hill meadow field valley farm countryside garden grass prairie pasture',
	'land:dunes': 'desert dune sand sahara',
	'mood:night': 'night midnight dark moon star galax space nebula',
	'mood:fog': 'fog mist haze hazy smoke ethereal cloud'
};

const STEMS = Object.entries(VOCABULARY).map(([tag, list]) => [tag as Tag, list.split(' ')] as const);
const SHORT_STEM = 4;

// Light and mood outweigh places: "a lake at sunset" is painted in sunset colours, with water.
const WEIGHTS: Partial<Record<Tag, number>> = { 'theme:sunset': 1.5, 'theme:neon': 1.5, 'theme:night': 1.5 };

export function words(text: string | null): string[] {
	return (text ?? '').toLowerCase().match(/[a-z]+/g) ?? [];
}

function matches(word: string, stem: string): boolean {
	return stem.length < SHORT_STEM ? word === stem || word === `${stem}s` : word.startsWith(stem);
}

export interface Understanding {
	/** Themes in order of relevance (most mentioned first, then first mentioned). */
	themes: ThemeName[];
	lands: LandKind[];
	moods: Set<Mood>;
}

export function understand(prompt: string, negativePrompt: string | null): Understanding {
	const positive = words(prompt);
	const negative = words(negativePrompt);
	const scores = new Map<Tag, { count: number; first: number }>();
	positive.forEach((word, index) => {
		for (const [tag, stems] of STEMS) {
			if (!stems.some((stem) => matches(word, stem))) continue;
			const score = scores.get(tag) ?? { count: 0, first: index };
			score.count += WEIGHTS[tag] ?? 1;
			scores.set(tag, score);
		}
	});
	for (const word of negative) {
		for (const [tag, stems] of STEMS) {
			if (stems.some((stem) => matches(word, stem))) scores.delete(tag);
		}
	}
	const ranked = [...scores.entries()]
		.sort(([, a], [, b]) => b.count - a.count || a.first - b.first)
		.map(([tag]) => tag);
	const of = <K extends string>(prefix: string): K[] =>
		ranked.filter((tag) => tag.startsWith(prefix)).map((tag) => tag.slice(prefix.length) as K);
	return {
		themes: of<ThemeName>('theme:'),
		lands: of<LandKind>('land:'),
		moods: new Set(of<Mood>('mood:'))
	};
}
