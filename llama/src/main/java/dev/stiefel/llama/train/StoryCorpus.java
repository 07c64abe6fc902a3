package dev.stiefel.llama.train;

import java.util.List;
import java.util.Random;

/**
 * Short children's stories from a small procedural grammar, so the project can train its own default model on
 * text it generates itself (no downloaded data). The same seed gives the same text; stories share characters,
 * places and plot shapes, so a tiny model can learn them well, while names, objects and endings vary enough that
 * it has to track who is who across sentences.
 */
public final class StoryCorpus {
    private static final List<String> NAMES = List.of("Lily", "Tom", "Mia", "Ben", "Sam", "Anna", "Max", "Lucy", "Jack", "Sara",
            "Tim", "Emma", "Leo", "Zoe", "Finn", "Ella");
    private static final List<String> ANIMALS = List.of("cat", "dog", "bird", "fox", "bunny", "frog", "bear", "duck", "mouse", "owl");
    private static final List<String> PLACES = List.of("park", "garden", "forest", "beach", "yard", "meadow", "farm", "hill");
    private static final List<String> THINGS = List.of("ball", "kite", "box", "hat", "book", "shell", "stone", "flower", "cup", "drum",
            "boat", "key");
    private static final List<String> COLORS = List.of("red", "blue", "green", "yellow", "big", "small", "shiny", "soft", "old", "pretty");
    private static final List<String> PLAY = List.of("run", "jump", "sing", "dance", "play", "swim", "dig", "read");
    private static final List<String> FEELINGS = List.of("happy", "sad", "scared", "surprised", "tired", "proud");
    private static final List<String> WEATHER = List.of("sunny", "windy", "rainy", "cold", "warm");

    private final Random rnd;

    public StoryCorpus(long seed) { this.rnd = new Random(seed); }

    private String pick(List<String> xs) { return xs.get(rnd.nextInt(xs.size())); }

    private static String a(String word) { return ("aeiou".indexOf(word.charAt(0)) >= 0 ? "an " : "a ") + word; }

    /** One story of five to nine sentences. */
    public String story() {
        String hero = pick(NAMES), friend = pick(NAMES);
        while (friend.equals(hero)) friend = pick(NAMES);
        String pet = pick(ANIMALS), place = pick(PLACES), thing = pick(THINGS), color = pick(COLORS);
        boolean girl = List.of("Lily", "Mia", "Anna", "Lucy", "Sara", "Emma", "Zoe", "Ella").contains(hero);
        String he = girl ? "she" : "he", He = girl ? "She" : "He", his = girl ? "her" : "his";
        StringBuilder s = new StringBuilder();
        switch (rnd.nextInt(3)) {
            case 0 -> s.append("Once upon a time, there was a little ").append(pet).append(" named ").append(hero).append(". ");
            case 1 -> s.append("One ").append(pick(WEATHER)).append(" day, ").append(hero).append(" went to the ").append(place).append(". ");
            default -> s.append(hero).append(" was a kind child who loved to ").append(pick(PLAY)).append(". ");
        }
        s.append(He).append(" liked to ").append(pick(PLAY)).append(" in the ").append(place).append(" with ").append(his).append(" friend ")
                .append(friend).append(". ");
        s.append("One day, ").append(he).append(" found ").append(a(color)).append(" ").append(thing).append(" under a tree. ");
        switch (rnd.nextInt(3)) {
            case 0 -> {
                s.append(hero).append(" said, \"Look, ").append(friend).append("! I found ").append(a(color)).append(" ").append(thing).append("!\" ");
                s.append(friend).append(" was ").append(pick(FEELINGS)).append(" and said, \"Can I play with it too?\" ");
                s.append(hero).append(" smiled and said, \"Yes, we can share.\" ");
                s.append("They played with the ").append(thing).append(" all day long. ");
            }
            case 1 -> {
                s.append("But the ").append(thing).append(" was stuck, and ").append(he).append(" could not get it out. ");
                s.append(hero).append(" felt ").append(pick(FEELINGS)).append(". ");
                s.append(friend).append(" came to help, and together they pulled and pulled. ");
                s.append("At last, the ").append(thing).append(" came out, and they laughed. ");
            }
            default -> {
                s.append("Then a ").append(pick(ANIMALS)).append(" took the ").append(thing).append(" and ran away. ");
                s.append(hero).append(" and ").append(friend).append(" ran after it to the ").append(pick(PLACES)).append(". ");
                s.append("The ").append(pick(ANIMALS)).append(" stopped and gave the ").append(thing).append(" back. ");
            }
        }
        switch (rnd.nextInt(3)) {
            case 0 -> s.append("From that day on, ").append(hero).append(" and ").append(friend).append(" were best friends.");
            case 1 -> s.append("When the sun went down, ").append(hero).append(" went home and told ").append(his).append(" mom about the ")
                    .append(thing).append(".");
            default -> s.append(hero).append(" learned that sharing makes everyone ").append("happy")
                    .append(".");
        }
        return s.toString();
    }

    /** {@code n} stories separated by blank lines. */
    public String stories(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            if (i > 0) sb.append("\n\n");
            sb.append(story());
        }
        return sb.toString();
    }
}
